//! Ctrl-C and SIGTERM for `switchyard local up`, taken on a thread of their own.
//!
//! The signals are received by a dedicated OS thread running its own small runtime, so nothing
//! the local runner does (a handler hogging a worker, a blocking call, a stalled shutdown) can
//! keep a signal from being seen. The first signal asks `local up` to stop ([`Stop::requested`]);
//! if the process is still alive after the grace period, or a second signal comes, the thread
//! kills the tools' process groups itself and exits.

use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::processes;

/// Told which signal asked `local up` to stop.
pub struct Stop {
    rx: watch::Receiver<Option<&'static str>>,
}

impl Stop {
    /// Resolves with the signal's name once one has arrived.
    pub async fn requested(&mut self) -> &'static str {
        loop {
            if let Some(name) = *self.rx.borrow_and_update() {
                return name;
            }
            if self.rx.changed().await.is_err() {
                // The signal thread is gone (it exits the process itself): never resolve.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Starts listening for SIGINT and SIGTERM; returns once both are taken.
pub fn listen(grace: Duration) -> anyhow::Result<Stop> {
    let (tx, rx) = watch::channel(None);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("local-up-signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let (mut interrupt, mut terminate) =
                    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                        (Ok(i), Ok(t)) => (i, t),
                        (Err(e), _) | (_, Err(e)) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                let _ = ready_tx.send(Ok(()));
                let first = tokio::select! {
                    _ = interrupt.recv() => "interrupt",
                    _ = terminate.recv() => "SIGTERM",
                };
                let _ = tx.send(Some(first));
                tokio::select! {
                    _ = interrupt.recv() => eprintln!("==> second signal: killing the local tools"),
                    _ = terminate.recv() => eprintln!("==> second signal: killing the local tools"),
                    _ = tokio::time::sleep(grace) => {
                        eprintln!("==> not stopped after {} s: killing the local tools", grace.as_secs());
                    }
                }
                processes::kill_all();
                std::process::exit(if first == "interrupt" { 130 } else { 143 });
            });
        })
        .context("cannot start the signal thread")?;
    ready_rx
        .recv()
        .context("the signal thread ended before listening")?
        .context("cannot listen for Ctrl-C and SIGTERM")?;
    Ok(Stop { rx })
}
