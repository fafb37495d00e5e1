//! The local tools `switchyard local up` starts: moto server and localstripe from the project's
//! virtual environment, bound to 127.0.0.1, stopped when the CLI exits.
//!
//! They never outlive the CLI: each runs in its own process group, which is terminated when its
//! [`Tool`] is dropped (a normal stop, an error during start-up) or when the signal thread gives
//! up on a stalled shutdown ([`kill_all`]); and on Linux each asks the kernel for SIGTERM when
//! the CLI dies (`PR_SET_PDEATHSIG`), which covers a SIGKILL or an aborting panic, where no
//! code of ours runs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// Process groups of the running tools, for [`kill_all`].
static GROUPS: Mutex<Vec<libc::pid_t>> = Mutex::new(Vec::new());

/// A tool started by `local up`; dropping it stops its whole process group.
#[derive(Debug)]
pub struct Tool {
    child: Child,
    group: Option<libc::pid_t>,
}

impl Drop for Tool {
    fn drop(&mut self) {
        let Some(group) = self.group.take() else { return };
        // SIGTERM first so the tool can close its port, then SIGKILL if it lingers.
        signal_group(group, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(group, libc::SIGKILL);
        let _ = self.child.try_wait();
        GROUPS.lock().unwrap_or_else(|p| p.into_inner()).retain(|g| *g != group);
    }
}

fn signal_group(group: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// SIGKILLs every running tool's process group: the last resort of a stalled shutdown.
pub fn kill_all() {
    for group in GROUPS.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
        signal_group(group, libc::SIGKILL);
    }
}

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

fn spawn(program: &Path, args: &[&str], log: &Path) -> anyhow::Result<Tool> {
    let out = std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let err = out.try_clone()?;
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        // Its own group: Ctrl-C at the terminal reaches only the CLI, which stops the tools in
        // order, and the group (with anything the tool starts) can be killed as one.
        .process_group(0);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the closure runs in the child between fork and exec and only makes
        // async-signal-safe calls (prctl, getppid), allocating nothing.
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        unsafe {
            command.pre_exec(move || {
                // The death signal is sent when the thread that forked the child ends: this
                // runs on the thread driving `local up` (the runtime's block_on thread), which
                // lives as long as the process.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // The CLI may have died before prctl: then no signal would ever come.
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let group = child.id().and_then(|id| libc::pid_t::try_from(id).ok());
    if let Some(group) = group {
        GROUPS.lock().unwrap_or_else(|p| p.into_inner()).push(group);
    }
    Ok(Tool { child, group })
}

/// Starts moto server on 127.0.0.1:`port`.
pub async fn start_moto(venv: &Path, port: u16, logs: &Path) -> anyhow::Result<Tool> {
    ensure_free(port, "the AWS emulator")?;
    let log = logs.join("moto.log");
    let mut child = spawn(
        &venv.join("bin/moto_server"),
        &["-H", "127.0.0.1", "-p", &port.to_string()],
        &log,
    )?;
    wait_for(port, "moto server", &mut child.child, &log).await?;
    Ok(child)
}

/// Starts localstripe on 127.0.0.1:`port`, state in memory.
pub async fn start_localstripe(venv: &Path, port: u16, logs: &Path) -> anyhow::Result<Tool> {
    ensure_free(port, "localstripe")?;
    let log = logs.join("localstripe.log");
    let script = include_str!("../../../scripts/localstripe_serve.py");
    let mut child = spawn(&venv.join("bin/python"), &["-c", script, &port.to_string()], &log)?;
    wait_for(port, "localstripe", &mut child.child, &log).await?;
    Ok(child)
}
