//! A function binary running against its own Runtime API, and its footprint from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use super::{InitState, Invocation, Outcome, RuntimeApi};

/// What to run and how Lambda would configure it.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// `AWS_LAMBDA_FUNCTION_NAME` (and the function ARN's last part).
    pub name: String,
    pub binary: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (informational: nothing enforces it here).
    pub memory_mb: u32,
    /// The function's timeout: every event's deadline is the time it is handed out plus this,
    /// and an invocation that takes longer (plus a few seconds) is an error.
    pub timeout: Duration,
    /// The function's own environment (table, queue, endpoint, credentials, ...). The process
    /// gets only this and Lambda's variables: nothing is inherited from the caller.
    pub env: Vec<(String, String)>,
    /// Where the function's stdout and stderr go.
    pub log_path: PathBuf,
}

/// Memory and CPU of a process at one moment, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSnapshot {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time so far, all threads (`utime + stime`).
    pub cpu: Duration,
}

/// One invocation as the footprint counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationRecord {
    pub duration: Duration,
    /// The function answered with `POST .../error`.
    pub function_error: bool,
}

/// What a function used over its life.
#[derive(Debug, Clone)]
pub struct Footprint {
    pub name: String,
    /// Spawn to the first `GET .../next`.
    pub init_wall: Duration,
    /// At the first `GET .../next` (init done, no event yet).
    pub at_init: ProcSnapshot,
    /// Just before the process was stopped.
    pub at_end: ProcSnapshot,
    pub invocations: Vec<InvocationRecord>,
    pub log_path: PathBuf,
}

impl Footprint {
    /// CPU time spent after init, per invocation.
    pub fn cpu_per_invocation(&self) -> Duration {
        let n = self.invocations.len().max(1) as u32;
        self.at_end.cpu.saturating_sub(self.at_init.cpu) / n
    }

    pub fn function_errors(&self) -> usize {
        self.invocations.iter().filter(|i| i.function_error).count()
    }

    /// Invocation durations, shortest first.
    pub fn sorted_durations(&self) -> Vec<Duration> {
        let mut d: Vec<Duration> = self.invocations.iter().map(|i| i.duration).collect();
        d.sort_unstable();
        d
    }

    /// The nearest-rank percentile `p` (0 < p <= 1) of the invocation durations.
    pub fn percentile(&self, p: f64) -> Duration {
        let d = self.sorted_durations();
        if d.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p * d.len() as f64).ceil() as usize).clamp(1, d.len());
        d[rank - 1]
    }
}

/// A running function: one execution environment, one event at a time.
pub struct FunctionProcess {
    api: RuntimeApi,
    child: Child,
    pid: u32,
    name: String,
    timeout: Duration,
    log_path: PathBuf,
    init_wall: Duration,
    at_init: ProcSnapshot,
    records: Vec<InvocationRecord>,
}

impl FunctionProcess {
    /// Starts the binary and waits (up to 30 s) for its first `GET .../next`: the cold start.
    pub async fn start(spec: FunctionSpec) -> anyhow::Result<Self> {
        if !spec.binary.is_file() {
            bail!("the function binary {} does not exist", spec.binary.display());
        }
        if let Some(dir) = spec.log_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let log = File::create(&spec.log_path).with_context(|| format!("cannot create {}", spec.log_path.display()))?;
        let api = RuntimeApi::start(&spec.name, spec.timeout).await?;
        let mut command = Command::new(&spec.binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]footprint")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("TZ", ":UTC")
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", spec.binary.display()))?;
        let pid = child.id().context("the new process has a pid")?;
        let mut process = Self {
            api,
            child,
            pid,
            name: spec.name,
            timeout: spec.timeout,
            log_path: spec.log_path,
            init_wall: Duration::ZERO,
            at_init: ProcSnapshot::default(),
            records: Vec::new(),
        };
        let mut init = process.api.init_state();
        let ready_at = loop {
            let state = init.borrow_and_update().clone();
            match state {
                InitState::Ready(at) => break at,
                InitState::Failed(error) => {
                    bail!(
                        "{} failed its cold start: {error}\n{}",
                        process.name,
                        process.log_tail()
                    )
                }
                InitState::Starting => {}
            }
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "{} exited during its cold start ({status})\n{}",
                    process.name,
                    process.log_tail()
                );
            }
            if spawned.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{} did not ask for an event within 30 s of starting\n{}",
                    process.name,
                    process.log_tail()
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), init.changed()).await;
        };
        process.init_wall = ready_at.duration_since(spawned);
        // The process now waits on GET .../next: nothing it does changes these figures.
        process.at_init = read_proc(pid)?;
        Ok(process)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id (to attach a profiler, say).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Invokes the function with `event` and waits for its answer. A function error is an
    /// `Ok` with an error outcome; the process dying or overrunning its timeout is an `Err`.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> anyhow::Result<Invocation> {
        let body = serde_json::to_vec(event)?;
        let mut done = self.api.submit(body);
        let started = Instant::now();
        let limit = self.timeout + Duration::from_secs(5);
        loop {
            tokio::select! {
                answered = &mut done => {
                    let invocation = answered.context("the Runtime API dropped the invocation")?;
                    self.records.push(InvocationRecord {
                        duration: invocation.duration,
                        function_error: matches!(invocation.outcome, Outcome::Error { .. }),
                    });
                    return Ok(invocation);
                }
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Some(status) = self.child.try_wait()? {
                        bail!("{} exited during an invocation ({status})\n{}", self.name, self.log_tail());
                    }
                    if started.elapsed() > limit {
                        bail!(
                            "{} did not answer within its {} s timeout\n{}",
                            self.name,
                            self.timeout.as_secs(),
                            self.log_tail()
                        );
                    }
                }
            }
        }
    }

    /// The invocations so far.
    pub fn invocations(&self) -> &[InvocationRecord] {
        &self.records
    }

    /// Reads the footprint, then kills the process.
    pub async fn stop(mut self) -> anyhow::Result<Footprint> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} had already exited ({status}) when it was to be measured\n{}",
                self.name,
                self.log_tail()
            );
        }
        let at_end = read_proc(self.pid)?;
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(Footprint {
            name: self.name,
            init_wall: self.init_wall,
            at_init: self.at_init,
            at_end,
            invocations: self.records,
            log_path: self.log_path,
        })
    }

    /// The last lines of the function's log, to quote in an error.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("last lines of {}:\n{tail}", self.log_path.display())
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, almost always 100).
fn clock_ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Reads `VmRSS`, `VmHWM` and `utime + stime` of a live process.
pub fn read_proc(pid: u32) -> anyhow::Result<ProcSnapshot> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (Linux only)"))?;
    let kib = |field: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("/proc/{pid}/status has no {field}"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the command name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("/proc/{pid}/stat is not as expected: {stat}"))
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(ProcSnapshot {
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
        cpu: Duration::from_millis(ticks * 1000 / clock_ticks_per_sec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_measured() {
        let snap = read_proc(std::process::id()).unwrap();
        assert!(snap.rss_kib > 0 && snap.peak_rss_kib >= snap.rss_kib, "{snap:?}");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let footprint = Footprint {
            name: "f".into(),
            init_wall: Duration::ZERO,
            at_init: ProcSnapshot::default(),
            at_end: ProcSnapshot::default(),
            invocations: (1..=100)
                .rev()
                .map(|ms| InvocationRecord {
                    duration: Duration::from_millis(ms),
                    function_error: ms == 7,
                })
                .collect(),
            log_path: PathBuf::new(),
        };
        assert_eq!(footprint.percentile(0.5), Duration::from_millis(50));
        assert_eq!(footprint.percentile(0.99), Duration::from_millis(99));
        assert_eq!(footprint.percentile(1.0), Duration::from_millis(100));
        assert_eq!(footprint.function_errors(), 1);
    }
}
