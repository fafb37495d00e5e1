//! The request log every fake keeps, and the middleware that writes it and logs one line per
//! request.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::info;

use crate::faults::Fault;

/// One request a fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Option<String>,
    /// The status sent; `None` while the request is in flight, or when the client went away
    /// before the response (for example during an injected timeout).
    pub status: Option<u16>,
    /// The injected fault that answered this request, if any.
    pub fault: Option<Fault>,
}

/// Every request a fake received, in arrival order.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<LogInner>,
}

#[derive(Debug, Default)]
struct LogInner {
    next_seq: u64,
    entries: Vec<RequestRecord>,
}

impl RequestLog {
    fn lock(&self) -> MutexGuard<'_, LogInner> {
        // A panic while holding this lock cannot leave the log inconsistent: keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of every record.
    pub fn all(&self) -> Vec<RequestRecord> {
        self.lock().entries.clone()
    }

    /// Number of requests received.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of requests answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        self.count_where(|r| r.status == Some(status))
    }

    /// Number of requests answered with a 5xx status.
    pub fn server_errors(&self) -> usize {
        self.count_where(|r| r.status.is_some_and(|s| s >= 500))
    }

    /// Number of records matching `predicate`.
    pub fn count_where(&self, predicate: impl Fn(&RequestRecord) -> bool) -> usize {
        self.lock().entries.iter().filter(|r| predicate(r)).count()
    }

    /// Records for `method` requests to exactly `path`.
    pub fn matching(&self, method: &str, path: &str) -> Vec<RequestRecord> {
        self.lock()
            .entries
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
            .cloned()
            .collect()
    }

    /// Forgets every record (requests in flight are then not recorded).
    pub fn clear(&self) {
        self.lock().entries.clear();
    }

    fn start(&self, method: String, path: String, query: Option<String>) -> u64 {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.entries.push(RequestRecord {
            seq,
            method,
            path,
            query,
            status: None,
            fault: None,
        });
        seq
    }

    fn update(&self, seq: u64, apply: impl FnOnce(&mut RequestRecord)) {
        let mut inner = self.lock();
        // In-flight requests are near the end.
        if let Some(record) = inner.entries.iter_mut().rev().find(|r| r.seq == seq) {
            apply(record);
        }
    }

    pub(crate) fn set_fault(&self, seq: u64, fault: Fault) {
        self.update(seq, |r| r.fault = Some(fault));
    }
}

/// The request's sequence number, put in the request extensions for inner layers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestSeq(pub(crate) u64);

/// State of the recording middleware.
pub(crate) struct Recorder {
    pub(crate) fake: &'static str,
    pub(crate) log: Arc<RequestLog>,
}

/// Marks a record as finished without a response if the client goes away first.
struct InFlight<'a> {
    recorder: &'a Recorder,
    seq: u64,
    method: String,
    path: String,
    started: Instant,
    done: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            info!(
                message = "Request abandoned by the client.",
                fake = self.recorder.fake,
                method = %self.method,
                path = %self.path,
                elapsed_ms = self.started.elapsed().as_millis() as u64,
            );
        }
    }
}

/// Records the request, runs the inner layers, records the status and logs one line.
pub(crate) async fn record(State(recorder): State<Arc<Recorder>>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let seq = recorder.log.start(method.clone(), path.clone(), query);
    req.extensions_mut().insert(RequestSeq(seq));
    let mut in_flight = InFlight {
        recorder: &recorder,
        seq,
        method,
        path,
        started: Instant::now(),
        done: false,
    };
    let response = next.run(req).await;
    let status = response.status().as_u16();
    recorder.log.update(in_flight.seq, |r| r.status = Some(status));
    in_flight.done = true;
    info!(
        message = "Request served.",
        fake = recorder.fake,
        method = %in_flight.method,
        path = %in_flight.path,
        status,
        elapsed_ms = in_flight.started.elapsed().as_millis() as u64,
    );
    response
}
