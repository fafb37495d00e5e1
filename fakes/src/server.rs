//! Running a fake: bind a loopback port, serve it on its own thread and runtime, stop on drop.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::ops::Deref;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::middleware::from_fn_with_state;
use axum::Router;
use tokio::sync::oneshot;
use tracing::error;

use crate::faults::{self, FaultConfig, FaultLayer, FaultResponder, Faults};
use crate::requests::{self, Recorder, RequestLog};
use crate::spec::check::{self, CheckLayer, SpecCheck};
use crate::spec::ViolationLog;

/// A running fake. Dropping it stops the server and frees the port.
///
/// It dereferences to the fake's state, so `handle.count(..)` reads the fake's data directly.
pub struct FakeHandle<S> {
    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub base_url: String,
    /// The fake's state: stored objects, messages, deliveries, counters.
    pub state: Arc<S>,
    /// Every request received.
    pub requests: Arc<RequestLog>,
    /// Fault injection for this fake.
    pub faults: Arc<Faults>,
    /// Spec violations seen in the fake's traffic (empty unless the fake checks a spec).
    pub violations: Arc<ViolationLog>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl<S> FakeHandle<S> {
    /// The bound loopback address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`, without a trailing slash (the `base_url` field).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl<S> Deref for FakeHandle<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> Drop for FakeHandle<S> {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server thread only awaits the shutdown signal and its own tasks; dropping its
            // runtime cancels requests in flight (including injected timeouts), so this is quick.
            let _ = thread.join();
        }
    }
}

/// What a fake module hands to [`spawn`].
pub(crate) struct Spec<S> {
    /// Short name for log lines, e.g. `"hubspot"`.
    pub(crate) name: &'static str,
    /// Loopback port; 0 picks a free one.
    pub(crate) port: u16,
    pub(crate) state: Arc<S>,
    pub(crate) faults: FaultConfig,
    /// The fake's error body for injected statuses.
    pub(crate) respond: FaultResponder,
    /// Check every request and response against this spec (hand-written fakes).
    pub(crate) check: Option<SpecCheck>,
    /// Where violations are recorded.
    pub(crate) violations: Arc<ViolationLog>,
}

/// Binds `127.0.0.1:{port}`, builds the fake's router with its base URL, wraps it in the fault
/// and recording layers and serves it on a dedicated thread.
pub(crate) fn spawn<S: Send + Sync + 'static>(
    spec: Spec<S>,
    router: impl FnOnce(&str) -> Router,
) -> io::Result<FakeHandle<S>> {
    let listener = TcpListener::bind(("127.0.0.1", spec.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    let log = Arc::new(RequestLog::default());
    let faults = Arc::new(Faults::new(spec.faults));
    let fault_layer = Arc::new(FaultLayer {
        faults: faults.clone(),
        log: log.clone(),
        respond: spec.respond,
    });
    let recorder = Arc::new(Recorder {
        fake: spec.name,
        log: log.clone(),
    });
    let mut app = router(&base_url);
    if let Some(spec_check) = &spec.check {
        let loaded = spec_check.load().map_err(io::Error::other)?;
        let layer = Arc::new(CheckLayer {
            fake: spec.name,
            spec: loaded,
            log: spec.violations.clone(),
        });
        app = app.layer(from_fn_with_state(layer, check::check));
    }
    let app = app
        .layer(from_fn_with_state(fault_layer, faults::inject))
        .layer(from_fn_with_state(recorder, requests::record));

    let (shutdown, stop) = oneshot::channel::<()>();
    let name = spec.name;
    let thread = std::thread::Builder::new()
        .name(format!("fake-{name}"))
        .spawn(move || serve(name, listener, app, stop))?;

    Ok(FakeHandle {
        base_url,
        state: spec.state,
        requests: log,
        faults,
        violations: spec.violations,
        addr,
        shutdown: Some(shutdown),
        thread: Some(thread),
    })
}

fn serve(name: &'static str, listener: TcpListener, app: Router, stop: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(message = "Fake could not start its runtime.", fake = name, error = %e);
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                error!(message = "Fake could not use its listener.", fake = name, error = %e);
                return;
            }
        };
        tokio::select! {
            served = axum::serve(listener, app) => {
                if let Err(e) = served {
                    error!(message = "Fake stopped serving.", fake = name, error = %e);
                }
            }
            _ = stop => {}
        }
    });
}

/// Starts a fake for a test: a bind failure on a free loopback port means the machine is
/// broken, so it panics with the reason.
pub(crate) fn expect_started<S>(name: &str, started: io::Result<FakeHandle<S>>) -> FakeHandle<S> {
    started.unwrap_or_else(|e| panic!("the fake {name} could not listen on 127.0.0.1: {e}"))
}
