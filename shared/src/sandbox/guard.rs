//! The per-thread bounds behind [`super`]: a global allocator that counts what a sandboxed
//! thread allocates and watches its stack, and a signal that stops a thread that ran out of time.
//!
//! Rust cannot kill a thread, and jaq has no fuel counter: a jq loop such as `last(repeat(.))`
//! runs inside one call. So a sandboxed thread that exceeds a bound is *stranded*: it stops
//! where it is, for ever, without CPU (blocked in `pause`), holding at most its memory budget
//! and its stack. It is never stopped while it holds a lock of the allocator:
//!
//! * memory and stack are checked on every allocation, before the allocator (mimalloc) is called;
//! * the time-out signal ([`STOP_SIGNAL`]) arriving inside an allocation only marks the thread,
//!   which strands itself when the allocation has returned;
//! * outside the untrusted code the signal does nothing: the worker sees its cancel flag
//!   between records and ends normally.
//!
//! Threads that are not sandboxed pay one thread-local read per allocation.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// Sent to a sandboxed thread whose time ran out. SIGURG is ignored by default, so a stray
/// one harms nothing (Go's runtime preempts goroutines with it for the same reason).
pub const STOP_SIGNAL: libc::c_int = libc::SIGURG;

/// The allocator every binary linked with this crate uses: mimalloc, plus the checks above for
/// sandboxed threads. The checks count the sizes Rust asks for, whichever allocator serves them.
/// mimalloc rather than glibc's malloc: jaq allocates for nearly every term it runs, and its
/// small allocations and frees cost about half as much there (issue 20: a third less CPU per
/// mapped record).
pub struct GuardedAlloc;

#[global_allocator]
static ALLOCATOR: GuardedAlloc = GuardedAlloc;

/// How many sandboxed threads are stranded in this process.
static STRANDED: AtomicUsize = AtomicUsize::new(0);

/// Which bound a stranded thread exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Bound {
    Time = 1,
    Memory = 2,
    Stack = 3,
}

/// What a sandboxed thread shares with whoever waits for it.
#[derive(Debug, Default)]
pub struct Shared {
    cancelled: AtomicBool,
    exceeded: AtomicU8,
    /// The thread's pthread id while it runs; 0 once it has ended (guarded, so a signal is
    /// never sent to a thread that is gone).
    thread: Mutex<u64>,
}

impl Shared {
    /// The bound the thread stopped on, if it stopped itself (memory or stack).
    pub fn exceeded(&self) -> Option<Bound> {
        match self.exceeded.load(Ordering::Acquire) {
            1 => Some(Bound::Time),
            2 => Some(Bound::Memory),
            3 => Some(Bound::Stack),
            _ => None,
        }
    }

    /// Tells the thread its time is up: it strands itself if it is in untrusted code, or ends
    /// when it next looks at [`Shared::is_cancelled`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if *thread != 0 {
            // SAFETY: the id was stored by the thread itself, and a thread clears it under
            // this lock before it ends ([`leave`]), so the thread is alive here.
            unsafe {
                libc::pthread_kill(*thread as libc::pthread_t, STOP_SIGNAL);
            }
        }
    }

    /// CPU time the thread has spent so far, in nanoseconds, where the platform can tell
    /// another thread's CPU clock (Linux, which Lambda runs); `None` elsewhere or once the
    /// thread has ended.
    pub fn cpu_nanos(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        {
            let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
            if *thread == 0 {
                return None;
            }
            let mut clock: libc::clockid_t = 0;
            // SAFETY: the thread is alive while its id is stored (see `cancel`), and both
            // calls only write to the locals passed to them.
            unsafe {
                if libc::pthread_getcpuclockid(*thread as libc::pthread_t, &mut clock) != 0 {
                    return None;
                }
                read_clock(clock)
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    fn record(&self, bound: Bound) {
        let _ = self
            .exceeded
            .compare_exchange(0, bound as u8, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// The calling thread's sandbox state. Const-initialised `Cell`s with no destructor: reading
/// them never allocates, so the allocator and the signal handler can.
struct ThreadGuard {
    shared: Cell<*const Shared>,
    armed: Cell<bool>,
    in_alloc: Cell<bool>,
    pending: Cell<bool>,
    used: Cell<usize>,
    memory_limit: Cell<usize>,
    stack_top: Cell<usize>,
    stack_limit: Cell<usize>,
}

thread_local! {
    static GUARD: ThreadGuard = const {
        ThreadGuard {
            shared: Cell::new(std::ptr::null()),
            armed: Cell::new(false),
            in_alloc: Cell::new(false),
            pending: Cell::new(false),
            used: Cell::new(0),
            memory_limit: Cell::new(usize::MAX),
            stack_top: Cell::new(0),
            stack_limit: Cell::new(usize::MAX),
        }
    };
}

/// Makes the calling thread a sandbox thread tied to `shared` (which must outlive the
/// thread: the worker keeps an `Arc` for its whole life). Installs the signal handler once.
pub fn enter(shared: &std::sync::Arc<Shared>) {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(install_handler);
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = me;
    GUARD.with(|g| {
        g.shared.set(std::sync::Arc::as_ptr(shared));
        g.stack_top.set(stack_pointer());
    });
}

/// CPU time the calling thread has spent, in nanoseconds (the same clock
/// [`Shared::cpu_nanos`] reads from outside); `None` where that clock cannot be read.
pub fn own_cpu_nanos() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: clock_gettime only writes to the local it is given.
        unsafe { read_clock(libc::CLOCK_THREAD_CPUTIME_ID) }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(target_os = "linux")]
unsafe fn read_clock(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: the caller passes a valid clock id; `ts` is a valid local.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Called by a sandbox thread just before it ends, so it is never signalled after.
pub fn leave(shared: &Shared) {
    disarm();
    *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = 0;
}

/// Starts untrusted code on this thread: from here on, allocations count against `memory`
/// bytes and the stack may grow `stack` bytes below where [`enter`] was called.
pub fn arm(memory: usize, stack: usize) {
    GUARD.with(|g| {
        g.used.set(0);
        g.memory_limit.set(memory);
        g.stack_limit.set(stack);
        g.armed.set(true);
    });
}

/// Ends untrusted code on this thread.
pub fn disarm() {
    GUARD.with(|g| g.armed.set(false));
}

/// Sandboxed threads stranded in this process so far.
pub fn stranded() -> usize {
    STRANDED.load(Ordering::Acquire)
}

/// Roughly where the stack is now (the address of a local of the caller's frame). Inlined:
/// the allocator calls it on every allocation of an armed thread.
#[inline(always)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Stops this thread for good. Called only where no allocator lock is held.
fn strand(g: &ThreadGuard, bound: Bound) -> ! {
    g.armed.set(false);
    let shared = g.shared.get();
    if !shared.is_null() {
        // SAFETY: `shared` is kept alive by the worker's Arc, which this thread owns and never drops.
        unsafe { (*shared).record(bound) };
    }
    STRANDED.fetch_add(1, Ordering::AcqRel);
    g.pending.set(false);
    loop {
        // SAFETY: pause has no preconditions and is async-signal-safe.
        unsafe {
            libc::pause();
        }
    }
}

fn install_handler() {
    // SAFETY: a plain sigaction with a handler that only touches const thread-locals and
    // async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_stop_signal as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(STOP_SIGNAL, &action, std::ptr::null_mut());
    }
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    let _ = GUARD.try_with(|g| {
        if !g.armed.get() {
            return;
        }
        if g.in_alloc.get() {
            g.pending.set(true);
            return;
        }
        strand(g, Bound::Time);
    });
}

#[inline]
fn before_alloc(size: usize) {
    // One thread-local access per allocation: the checks, then the mark that it is inside.
    let _ = GUARD.try_with(|g| {
        if !g.armed.get() {
            g.in_alloc.set(true);
            return;
        }
        let shared = g.shared.get();
        // SAFETY: see `strand`.
        if !shared.is_null() && unsafe { (*shared).is_cancelled() } {
            strand(g, Bound::Time);
        }
        let used = g.used.get().saturating_add(size);
        g.used.set(used);
        if used > g.memory_limit.get() {
            strand(g, Bound::Memory);
        }
        if g.stack_top.get().saturating_sub(stack_pointer()) > g.stack_limit.get() {
            strand(g, Bound::Stack);
        }
        // Once past the checks (a thread stranded above never enters the allocator).
        g.in_alloc.set(true);
    });
}

#[inline]
fn after_alloc() {
    let _ = GUARD.try_with(|g| leave_alloc(g, false));
}

/// Leaves the allocator; a time-out signal that arrived inside it takes effect now.
#[inline]
fn leave_alloc(g: &ThreadGuard, was_inside: bool) {
    g.in_alloc.set(was_inside);
    if !was_inside && g.armed.get() && g.pending.get() {
        strand(g, Bound::Time);
    }
}

#[inline]
fn on_free(size: usize) {
    let _ = GUARD.try_with(|g| {
        if g.armed.get() {
            g.used.set(g.used.get().saturating_sub(size));
        }
    });
}

/// What [`GuardedAlloc`] forwards every call to.
#[cfg(not(feature = "system-allocator"))]
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// glibc's malloc instead, built only to measure the allocator's own effect (the footprint
/// bench's `FOOTPRINT_CARGO_FEATURES=switchyard/system-allocator`); the guard is the same.
#[cfg(feature = "system-allocator")]
static INNER: std::alloc::System = std::alloc::System;

// SAFETY: every call is forwarded to [`INNER`] unchanged; the checks around it
// never allocate (const thread-locals) and strand the thread only outside the call to it.
unsafe impl GlobalAlloc for GuardedAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        before_alloc(layout.size());
        let p = INNER.alloc(layout);
        after_alloc();
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        before_alloc(layout.size());
        let p = INNER.alloc_zeroed(layout);
        after_alloc();
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let entered = GUARD.try_with(|g| g.in_alloc.replace(true));
        INNER.dealloc(ptr, layout);
        on_free(layout.size());
        if let Ok(was_inside) = entered {
            let _ = GUARD.try_with(|g| leave_alloc(g, was_inside));
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            before_alloc(new_size - layout.size());
        } else {
            on_free(layout.size() - new_size);
        }
        let _ = GUARD.try_with(|g| g.in_alloc.set(true));
        let p = INNER.realloc(ptr, layout, new_size);
        after_alloc();
        p
    }
}
