//! The local tools `switchyard local up` starts: moto server and localstripe from the project's
//! virtual environment, bound to 127.0.0.1, stopped when the CLI exits.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// The project's virtual environment: `SWITCHYARD_VENV`, else `.venv` in the current directory
/// or in the workspace this binary was built from.
pub fn venv() -> anyhow::Result<PathBuf> {
    let candidates = [
        std::env::var_os("SWITCHYARD_VENV").map(PathBuf::from),
        Some(PathBuf::from(".venv")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv")),
    ];
    for dir in candidates.into_iter().flatten() {
        if dir.join("bin/moto_server").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "the local tools are not installed: no .venv/bin/moto_server.\n\
         Run `make dev` (it installs them), or `scripts/setup-venv.sh`, or set SWITCHYARD_VENV."
    )
}

/// Fails with a clear message when something already listens on `port`.
pub fn ensure_free(port: u16, what: &str) -> anyhow::Result<()> {
    if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        bail!(
            "port {port} (for {what}) is already in use on 127.0.0.1: is another `switchyard local up` \
             running? Stop it, or choose other ports (see --help)."
        );
    }
    Ok(())
}

/// Waits until `port` accepts connections.
pub async fn wait_for(port: u16, what: &str, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            bail!(
                "{what} exited ({status}) before it was ready. Its output ({}):\n{out}",
                log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{what} did not start on port {port} within 60 s (log: {})",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn spawn(program: &Path, args: &[&str], log: &Path) -> anyhow::Result<Child> {
    let out = std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let err = out.try_clone()?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))
}

/// Starts moto server on 127.0.0.1:`port`.
pub async fn start_moto(venv: &Path, port: u16, logs: &Path) -> anyhow::Result<Child> {
    ensure_free(port, "the AWS emulator")?;
    let log = logs.join("moto.log");
    let mut child = spawn(
        &venv.join("bin/moto_server"),
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        &log,
    )?;
    wait_for(port, "moto server", &mut child, &log).await?;
    Ok(child)
}

/// Starts localstripe on 127.0.0.1:`port`, state in memory.
pub async fn start_localstripe(venv: &Path, port: u16, logs: &Path) -> anyhow::Result<Child> {
    ensure_free(port, "localstripe")?;
    let log = logs.join("localstripe.log");
    let script = include_str!("../../../scripts/localstripe_serve.py");
    let mut child = spawn(&venv.join("bin/python"), &["-c", script, &port.to_string()], &log)?;
    wait_for(port, "localstripe", &mut child, &log).await?;
    Ok(child)
}
