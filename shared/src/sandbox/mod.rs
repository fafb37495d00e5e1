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

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    // Without `%`, which clippy wants as `is_multiple_of` (stable only after our MSRV, 1.85).
    for (unit, name) in [(1024 * 1024, "MB"), (1024, "KB")] {
        let (whole, rest) = (n / unit, n % unit);
        if whole > 0 && rest == 0 {
            return format!("{whole} {name}");
        }
    }
    format!("{n} bytes")
}

/// The bounds one run is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Wall time per item.
    pub time: Duration,
    /// Bytes an item may allocate (net) while it runs.
    pub memory: usize,
    /// Stack an item may use.
    pub stack: usize,
}

type Task = Box<dyn FnOnce(&guard::Shared) + Send>;

struct Worker {
    tasks: mpsc::Sender<Task>,
    shared: Arc<guard::Shared>,
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
    let (tx, rx) = mpsc::channel::<Task>();
    let shared = Arc::new(guard::Shared::default());
    let thread_shared = shared.clone();
    std::thread::Builder::new()
        .name("sandbox".into())
        .stack_size(limits::MAX_STACK + STACK_MARGIN)
        .spawn(move || {
            guard::enter(&thread_shared);
            while let Ok(task) = rx.recv() {
                task(&thread_shared);
                if thread_shared.is_cancelled() {
                    break;
                }
            }
            guard::leave(&thread_shared);
        })
        .ok()?;
    Some(Worker { tasks: tx, shared })
}

fn give_back(worker: Worker) {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    if idle.len() < MAX_IDLE && !worker.shared.is_cancelled() {
        idle.push(worker);
    }
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
    let mut results = Vec::with_capacity(n);
    while results.len() < n {
        let start = results.len();
        let Some(worker) = take_worker() else {
            results.extend((start..n).map(|_| Err(Exceeded::Unavailable)));
            break;
        };
        let (tx, rx) = mpsc::channel::<T>();
        let (task_inputs, task_f) = (inputs.clone(), f.clone());
        let task: Task = Box::new(move |shared: &guard::Shared| {
            for input in &task_inputs[start..] {
                if shared.is_cancelled() {
                    return;
                }
                guard::arm(bounds.memory, bounds.stack);
                let out = task_f(input);
                guard::disarm();
                if tx.send(out).is_err() {
                    return;
                }
            }
        });
        if worker.tasks.send(task).is_err() {
            // The thread ended (it cannot, short of a bug); try another.
            continue;
        }
        let mut finished = true;
        for _ in start..n {
            match rx.recv_timeout(bounds.time) {
                Ok(out) => results.push(Ok(out)),
                Err(RecvTimeoutError::Timeout) => {
                    worker.shared.cancel();
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
                    finished = false;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // The task ended without a result: a panic in `f` (unwinding builds).
                    results.push(Err(Exceeded::Unavailable));
                    finished = false;
                    break;
                }
            }
        }
        if finished {
            give_back(worker);
        }
    }
    results
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
    fn work_runs_on_a_sandbox_thread_not_the_callers() {
        let name = run_one((), bounds(1000), |_| std::thread::current().name().map(str::to_owned)).unwrap();
        assert_eq!(name.as_deref(), Some("sandbox"));
    }
}
