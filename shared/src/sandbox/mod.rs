//! Runs untrusted computation (tenants' jq mappings) within bounds of time, memory and stack,
//! so that no input can stall, exhaust or abort the process.
//!
//! Work runs on a pool of sandbox threads with large stacks. The caller waits for each item's
//! result for at most the time bound; the global allocator ([`guard`]) refuses a sandboxed
//! thread more than its memory bound or its stack bound. A thread that exceeds a bound is
//! stranded (stopped for good, without CPU, its memory capped) and replaced; the item fails
//! alone with the bound it exceeded, and the items after it run on a fresh thread.
//!
//! Why this mechanism: jaq has no fuel counter and Rust cannot kill a thread. A separate
//! process per mapping would cost a round trip per record (the sync budget is 20 us a record)
//! and a second binary in every Lambda package; a watchdog alone cannot stop a loop that never
//! yields, nor a recursion before the stack overflows. Stranded threads are counted
//! ([`stranded`]); connector-sync recycles its process after an invocation that left any
//! (see `functions/connector-sync`).

pub mod guard;
mod limits;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use guard::{stranded, Bound};
pub use limits::{Limits, LimitsError};

/// Why an item did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error("exceeded {} ms", .0.as_millis())]
    Time(Duration),
    #[error("exceeded {} of memory", human_bytes(*.0))]
    Memory(usize),
    #[error("nested too deeply (more than {} of stack)", human_bytes(*.0))]
    Stack(usize),
    /// No sandbox thread could be started (the process is out of threads).
    #[error("could not start a sandbox thread")]
    Unavailable,
}

pub(crate) fn human_bytes(n: usize) -> String {
    const MB: usize = 1024 * 1024;
    const KB: usize = 1024;
    // Whole megabytes or kilobytes (powers of two: the low bits are zero).
    if n >= MB && n.trailing_zeros() >= 20 {
        format!("{} MB", n / MB)
    } else if n >= KB && n.trailing_zeros() >= 10 {
        format!("{} KB", n / KB)
    } else {
        format!("{n} bytes")
    }
}

/// The bounds one run is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Time per item: the CPU time its thread spends on it where the platform can tell
    /// (Linux), so a loaded machine or a Lambda sandbox's fractional vCPU does not cut an
    /// ordinary mapping short; wall time otherwise. Wall time is capped at [`WALL_FACTOR`]
    /// times this either way, so an item that waits without using CPU is still stopped.
    pub time: Duration,
    /// Bytes an item may allocate (net) while it runs.
    pub memory: usize,
    /// Stack an item may use.
    pub stack: usize,
}

type Task = Box<dyn FnOnce(&guard::Shared) + Send>;

/// Where a caller leaves a sandbox thread its next task. The thread parks while it is empty,
/// so a hand-over is one unpark: no channel to build per call, and no spinning while waiting
/// (which would take CPU from the very thread that is being waited for on a fractional vCPU).
#[derive(Default)]
struct Slot {
    task: Mutex<Option<Task>>,
    /// Set when the caller lets the thread go (the idle list is full, or it is stranded).
    closed: AtomicBool,
}

struct Worker {
    slot: Arc<Slot>,
    shared: Arc<guard::Shared>,
    thread: std::thread::Thread,
}

impl Worker {
    /// Hands `task` to the thread.
    fn post(&self, task: Task) {
        *self.slot.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        self.thread.unpark();
    }
}

impl Drop for Worker {
    /// An idle thread ends; a busy one ends after its task (a stranded one never runs again).
    fn drop(&mut self) {
        self.slot.closed.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Idle sandbox threads, reused across calls.
static IDLE: Mutex<Vec<Worker>> = Mutex::new(Vec::new());
/// Most idle threads kept.
const MAX_IDLE: usize = 8;
/// Stack reserved for each sandbox thread beyond the stack bound: room for the worker's own
/// frames, the signal handler and the checks. Pages are committed only when touched.
const STACK_MARGIN: usize = 8 * 1024 * 1024;

fn take_worker() -> Option<Worker> {
    if let Some(w) = IDLE.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return Some(w);
    }
    let slot = Arc::new(Slot::default());
    let shared = Arc::new(guard::Shared::default());
    let (thread_slot, thread_shared) = (slot.clone(), shared.clone());
    let handle = std::thread::Builder::new()
        .name("sandbox".into())
        .stack_size(limits::MAX_STACK + STACK_MARGIN)
        .spawn(move || {
            guard::enter(&thread_shared);
            loop {
                let task = thread_slot.task.lock().unwrap_or_else(|e| e.into_inner()).take();
                match task {
                    Some(task) => {
                        task(&thread_shared);
                        if thread_shared.is_cancelled() {
                            break;
                        }
                    }
                    None if thread_slot.closed.load(Ordering::Acquire) => break,
                    // A stray unpark only sends it round the loop again.
                    None => std::thread::park(),
                }
            }
            guard::leave(&thread_shared);
        })
        .ok()?;
    Some(Worker {
        slot,
        shared,
        thread: handle.thread().clone(),
    })
}

fn give_back(worker: Worker) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE && !worker.shared.is_cancelled() {
        idle.push(worker);
    }
}

/// How many times an item's time bound it may take in wall time (see [`Bounds::time`]).
/// Lambda's smallest memory size gives a function about a tenth of a vCPU.
pub const WALL_FACTOR: u32 = 10;

/// How old (in wall time) a reading of a sandbox thread's CPU clock may be and still mark the
/// start of its next item. An older reading only makes the item look to have used more CPU
/// (at most this much more, since a thread uses no more CPU than wall time), so the time bound
/// can end an item early by at most this, never late; in exchange a page of short items costs
/// one system call per millisecond instead of one per item.
const CPU_CLOCK_REUSE: Duration = Duration::from_millis(1);

/// How often the caller looks at an item that runs longer than this.
const POLL: Duration = Duration::from_millis(20);

/// How much longer the item that started at `started` (on the thread's CPU clock at
/// `cpu_since`, if known) may run before it is out of time. Reads the thread's CPU clock (a
/// system call) only once the item has one.
fn time_left(shared: &guard::Shared, started: Instant, cpu_since: Option<u64>, bound: Duration) -> Duration {
    if shared.exceeded().is_some() {
        // It stopped itself on its memory or stack bound and will use no more CPU.
        return Duration::ZERO;
    }
    let wall = started.elapsed();
    let wall_left = (bound * WALL_FACTOR).saturating_sub(wall);
    let used = match cpu_since.and_then(|since| Some((since, shared.cpu_nanos()?))) {
        Some((since, now)) => Duration::from_nanos(now.saturating_sub(since)),
        None => wall,
    };
    bound.saturating_sub(used).min(wall_left)
}

/// Where a task is: which input it runs and since when. The caller watches it instead of
/// taking a hand-over per input, so a page costs one wake-up, not one per record.
struct Progress<T> {
    /// Index of the input being run (`usize::MAX` before the first).
    current: AtomicUsize,
    /// When it started, in nanoseconds since [`epoch`].
    since: AtomicU64,
    /// The thread's CPU clock when it started ([`NO_CPU_CLOCK`] where it cannot be read).
    cpu_since: AtomicU64,
    /// Results of the inputs finished so far (pushed outside the bounds, never while armed).
    done: Mutex<Vec<T>>,
    /// [`RUNNING`] until the task ends, then [`FINISHED`] or [`ENDED_EARLY`].
    state: AtomicU8,
}

const NO_CPU_CLOCK: u64 = u64::MAX;
const RUNNING: u8 = 0;
/// The task ran every input.
const FINISHED: u8 = 1;
/// The task ended before the last input: it was cancelled, or `f` panicked (unwinding builds;
/// the thread is gone).
const ENDED_EARLY: u8 = 2;

/// Wakes the caller when a task ends, however it ends (a panic in `f` unwinds through it).
struct WakeCaller<'a, T> {
    progress: &'a Progress<T>,
    caller: std::thread::Thread,
    state: u8,
}

impl<T> Drop for WakeCaller<'_, T> {
    fn drop(&mut self) {
        self.progress.state.store(self.state, Ordering::Release);
        self.caller.unpark();
    }
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn nanos_since_epoch() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Runs `f` over every input on a sandbox thread, one after another, each within `bounds`.
/// Results come back in input order; an input that exceeds a bound gets `Err` and the rest
/// go on. Blocks the calling thread (at most `bounds.time` per input).
pub fn run_each<I, T, F>(inputs: Arc<Vec<I>>, bounds: Bounds, f: F) -> Vec<Result<T, Exceeded>>
where
    I: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(&I) -> T + Send + Sync + 'static,
{
    let bounds = Bounds {
        stack: bounds.stack.min(limits::MAX_STACK),
        ..bounds
    };
    let f = Arc::new(f);
    let n = inputs.len();
    let mut results: Vec<Result<T, Exceeded>> = Vec::with_capacity(n);
    while results.len() < n {
        let start = results.len();
        let Some(worker) = take_worker() else {
            results.extend((start..n).map(|_| Err(Exceeded::Unavailable)));
            break;
        };
        let progress = Arc::new(Progress {
            current: AtomicUsize::new(usize::MAX),
            since: AtomicU64::new(nanos_since_epoch()),
            cpu_since: AtomicU64::new(NO_CPU_CLOCK),
            done: Mutex::new(Vec::with_capacity(n - start)),
            state: AtomicU8::new(RUNNING),
        });
        let (task_inputs, task_f, task_progress) = (inputs.clone(), f.clone(), progress.clone());
        let caller = std::thread::current();
        let task: Task = Box::new(move |shared: &guard::Shared| {
            let mut wake = WakeCaller {
                progress: &task_progress,
                caller,
                state: ENDED_EARLY,
            };
            // The thread's CPU clock is a system call; the wall clock is not. A reading younger
            // than `CPU_CLOCK_REUSE` of wall time serves the next item too (see there).
            let (mut cpu, mut cpu_read_at) = (NO_CPU_CLOCK, 0u64);
            for (i, input) in task_inputs[start..].iter().enumerate() {
                if shared.is_cancelled() {
                    return;
                }
                let now = nanos_since_epoch();
                if cpu == NO_CPU_CLOCK || now.saturating_sub(cpu_read_at) >= CPU_CLOCK_REUSE.as_nanos() as u64 {
                    cpu = guard::own_cpu_nanos().unwrap_or(NO_CPU_CLOCK);
                    cpu_read_at = now;
                }
                task_progress.cpu_since.store(cpu, Ordering::Release);
                task_progress.since.store(now, Ordering::Release);
                task_progress.current.store(start + i, Ordering::Release);
                guard::arm(bounds.memory, bounds.stack);
                let out = task_f(input);
                guard::disarm();
                task_progress.done.lock().unwrap_or_else(|e| e.into_inner()).push(out);
            }
            wake.state = FINISHED;
        });
        worker.post(task);
        // The first wait needs no clock: the item has just started and has its whole bound.
        let mut first = true;
        loop {
            let watched = progress.current.load(Ordering::Acquire);
            let since = progress.since.load(Ordering::Acquire);
            let cpu_since = Some(progress.cpu_since.load(Ordering::Acquire)).filter(|&c| c != NO_CPU_CLOCK);
            let started = epoch() + Duration::from_nanos(since);
            let left = if first {
                bounds.time
            } else {
                time_left(&worker.shared, started, cpu_since, bounds.time)
            };
            first = false;
            // Out of time already (`left` is zero): look once more without waiting, then stop it.
            // A thread that stops itself on a bound wakes nobody, so a long item is looked at
            // every `POLL`. A wake-up may also come early (a stray unpark): the state says.
            if progress.state.load(Ordering::Acquire) == RUNNING && !left.is_zero() {
                std::thread::park_timeout(left.min(POLL));
            }
            match progress.state.load(Ordering::Acquire) {
                FINISHED => {
                    let done = std::mem::take(&mut *progress.done.lock().unwrap_or_else(|e| e.into_inner()));
                    results.extend(done.into_iter().map(Ok));
                    give_back(worker);
                    break;
                }
                ENDED_EARLY => {
                    // The task ended without finishing: a panic in `f` (unwinding builds).
                    let done = std::mem::take(&mut *progress.done.lock().unwrap_or_else(|e| e.into_inner()));
                    results.extend(done.into_iter().map(Ok));
                    if results.len() < n {
                        results.push(Err(Exceeded::Unavailable));
                    }
                    break;
                }
                _ => {
                    let moved_on = progress.current.load(Ordering::Acquire) != watched
                        || progress.since.load(Ordering::Acquire) != since;
                    if moved_on || !time_left(&worker.shared, started, cpu_since, bounds.time).is_zero() {
                        continue;
                    }
                    // The input being run (or, before the first, the start) is out of time.
                    worker.shared.cancel();
                    let done = std::mem::take(&mut *progress.done.lock().unwrap_or_else(|e| e.into_inner()));
                    let finished = done.len();
                    results.extend(done.into_iter().map(Ok));
                    if start + finished < n && (watched == usize::MAX || watched >= start + finished) {
                        let exceeded = match worker.shared.exceeded() {
                            Some(Bound::Memory) => Exceeded::Memory(bounds.memory),
                            Some(Bound::Stack) => Exceeded::Stack(bounds.stack),
                            _ => Exceeded::Time(bounds.time),
                        };
                        tracing::warn!(
                            message = "Sandboxed work exceeded a bound; its thread is stranded.",
                            bound = %exceeded,
                            stranded = stranded() + 1
                        );
                        results.push(Err(exceeded));
                    }
                    break;
                }
            }
        }
    }
    results
}

/// Runs `f` once within `bounds` (see [`run_each`]).
pub fn run_one<I, T, F>(input: I, bounds: Bounds, f: F) -> Result<T, Exceeded>
where
    I: Send + Sync + 'static,
    T: Send + 'static,
    F: Fn(&I) -> T + Send + Sync + 'static,
{
    run_each(Arc::new(vec![input]), bounds, f)
        .pop()
        .unwrap_or(Err(Exceeded::Unavailable))
}

/// For a Lambda function, after an invocation: once `at_least` sandbox threads are stranded,
/// the process exits `grace` from now (time for the runtime to post this invocation's
/// response), so Lambda starts a fresh one instead of carrying the stranded threads' memory.
/// Returns whether an exit is scheduled.
pub fn recycle_when_stranded(at_least: usize, grace: Duration) -> bool {
    static SCHEDULED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let count = stranded();
    if count < at_least.max(1) {
        return false;
    }
    if !SCHEDULED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        tracing::warn!(
            message = "Sandbox threads are stranded; the process recycles after this invocation.",
            stranded = count
        );
        let _ = std::thread::Builder::new().name("recycle".into()).spawn(move || {
            std::thread::sleep(grace);
            std::process::exit(0);
        });
    }
    true
}

/// Runs `f`, which blocks for a while, without starving the async runtime: inside a
/// multi-threaded Tokio runtime the worker thread is handed over first (`block_in_place`), so
/// the runtime's other tasks (the local runner's webhook receiver, say) keep running.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(ms: u64) -> Bounds {
        Bounds {
            time: Duration::from_millis(ms),
            memory: 16 * 1024 * 1024,
            stack: 4 * 1024 * 1024,
        }
    }

    #[test]
    fn results_come_back_in_order() {
        let out = run_each(Arc::new((0..100u64).collect()), bounds(1000), |x| x * 2);
        let values: Vec<u64> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(values, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_loop_that_never_allocates_is_stopped_by_time_and_the_rest_goes_on() {
        let before = stranded();
        let out = run_each(Arc::new(vec![1u64, 0, 3]), bounds(50), |x| {
            let mut n = *x;
            // Spins for ever on 0, without allocating.
            while std::hint::black_box(n) == 0 {
                n = std::hint::black_box(0);
            }
            n
        });
        assert_eq!(out[0], Ok(1));
        assert_eq!(out[1], Err(Exceeded::Time(Duration::from_millis(50))));
        assert_eq!(out[2], Ok(3));
        std::thread::sleep(Duration::from_millis(50));
        assert!(stranded() > before, "the looping thread was stranded");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_time_bound_counts_cpu_so_an_item_that_waits_is_not_cut_short() {
        // 60 ms of wall time but almost no CPU: within a 20 ms bound on the CPU clock, as a
        // mapping is on a loaded machine or a fractional Lambda vCPU.
        let out = run_one((), bounds(20), |_| {
            std::thread::sleep(Duration::from_millis(60));
            7
        });
        assert_eq!(out, Ok(7));
    }

    #[test]
    fn an_item_that_waits_past_the_wall_allowance_is_stopped() {
        let started = Instant::now();
        let out = run_one((), bounds(20), |_| {
            std::thread::sleep(Duration::from_secs(5));
            7
        });
        assert_eq!(out, Err(Exceeded::Time(Duration::from_millis(20))));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "stopped at the wall allowance ({WALL_FACTOR} x the bound), not when the item ended"
        );
    }

    #[test]
    fn an_allocation_over_the_memory_bound_is_refused_before_it_happens() {
        let out = run_one(200usize, bounds(2000), |mb| vec![7u8; mb * 1024 * 1024].len());
        assert_eq!(out, Err(Exceeded::Memory(16 * 1024 * 1024)));
        // Growing slowly is caught too.
        let out = run_one((), bounds(2000), |_| {
            let mut chunks = Vec::new();
            loop {
                chunks.push(vec![1u8; 64 * 1024]);
            }
            #[allow(unreachable_code)]
            chunks.len()
        });
        assert_eq!(out, Err(Exceeded::Memory(16 * 1024 * 1024)));
    }

    #[test]
    fn deep_recursion_is_stopped_before_the_stack_overflows() {
        fn deep(n: u64) -> u64 {
            let boxed = Box::new([n; 16]);
            if std::hint::black_box(n) == u64::MAX {
                return boxed[0];
            }
            deep(n + 1) + std::hint::black_box(boxed[1])
        }
        let out = run_one(0u64, bounds(2000), |n| deep(*n));
        assert_eq!(out, Err(Exceeded::Stack(4 * 1024 * 1024)));
    }

    #[test]
    fn calls_one_after_another_reuse_idle_sandbox_threads() {
        // Tests running at the same time share the idle threads, so a few may be new; a
        // thread per call would be 200.
        let threads: std::collections::HashSet<_> = (0..200)
            .map(|_| run_one((), bounds(1000), |_| std::thread::current().id()).unwrap())
            .collect();
        assert!(threads.len() < 50, "{} threads for 200 calls", threads.len());
    }

    #[test]
    fn work_runs_on_a_sandbox_thread_not_the_callers() {
        let name = run_one((), bounds(1000), |_| std::thread::current().name().map(str::to_owned)).unwrap();
        assert_eq!(name.as_deref(), Some("sandbox"));
    }
}
