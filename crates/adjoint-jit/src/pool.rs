//! A small pool of helper threads that run ranges of a generated kernel in
//! parallel with the calling thread.
//!
//! A loop is cut into chunks that the calling thread and the workers claim
//! one at a time, so a worker that is slow to start (the machine is shared)
//! delays nothing: the others take its chunks. Each worker has one job
//! slot; a caller that finds a worker busy (another thread is using it)
//! does not wait for it, and takes back a job no worker picked up, so the
//! pool never blocks on an idle worker and never deadlocks. Small work
//! never reaches the pool at all.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A generated kernel: `fn(ins, outs, arena, lo, hi)`.
pub(crate) type KernelFn = unsafe extern "C" fn(usize, usize, usize, usize, usize);

/// One parallel loop, shared by the threads that run it: chunks of the
/// range are claimed one at a time from `next`.
struct Loop {
    f: KernelFn,
    args: [usize; 3],
    n: usize,
    chunk: usize,
    next: AtomicUsize,
}

impl Loop {
    /// Claims and runs chunks until none are left.
    ///
    /// # Safety
    /// As for [`adj_parallel_for`].
    unsafe fn run(&self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            let lo = c.saturating_mul(self.chunk);
            if lo >= self.n {
                return;
            }
            let hi = lo.saturating_add(self.chunk).min(self.n);
            // SAFETY: chunks are disjoint, each claimed once; the caller
            // keeps the buffers alive until the loop is done.
            unsafe { (self.f)(self.args[0], self.args[1], self.args[2], lo, hi) };
        }
    }
}

/// A worker's share of a loop: the loop and the latch it sets when done.
#[derive(Clone, Copy)]
struct Job {
    work: *const Loop,
    done: *const AtomicBool,
}

// SAFETY: a job's pointers refer to a loop and a latch that the submitting
// caller keeps alive until the job signals completion or is taken back.
unsafe impl Send for Job {}

struct Worker {
    slot: Mutex<Option<Job>>,
    pending: AtomicBool,
    thread: OnceLock<Thread>,
}

struct Pool {
    workers: Vec<&'static Worker>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

static SPAWNED: AtomicUsize = AtomicUsize::new(0);

/// The number of hardware threads.
pub(crate) fn hardware_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let n = hardware_threads().saturating_sub(1).min(15);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let w: &'static Worker = Box::leak(Box::new(Worker {
                slot: Mutex::new(None),
                pending: AtomicBool::new(false),
                thread: OnceLock::new(),
            }));
            let spawned = std::thread::Builder::new()
                .name(format!("adjoint-jit-{i}"))
                .spawn(move || worker_loop(w));
            match spawned {
                Ok(h) => {
                    let _ = w.thread.set(h.thread().clone());
                    SPAWNED.fetch_add(1, Ordering::Relaxed);
                    workers.push(w);
                }
                Err(_) => break,
            }
        }
        Pool { workers }
    })
}

fn worker_loop(w: &'static Worker) {
    let spin = Duration::from_micros(50);
    loop {
        let start = Instant::now();
        while !w.pending.load(Ordering::Acquire) {
            if start.elapsed() > spin {
                std::thread::park_timeout(Duration::from_millis(100));
            } else {
                std::hint::spin_loop();
            }
        }
        let job = w.slot.lock().ok().and_then(|mut s| s.take());
        w.pending.store(false, Ordering::Release);
        if let Some(j) = job {
            // SAFETY: the submitter keeps the loop and its buffers alive
            // until `done` is set.
            unsafe { (*j.work).run() };
            // SAFETY: the latch outlives the job (the submitter waits on it).
            unsafe { (*j.done).store(true, Ordering::Release) };
        }
    }
}

/// Chunks per participating thread: enough that a thread delayed by other
/// processes on a shared machine leaves its share to the others.
const CHUNKS_PER_THREAD: usize = 8;

/// Runs `kernel` over `[0, n)` in chunks whose boundaries are multiples of
/// `grain`, on the calling thread and up to `threads - 1` pool workers.
/// Chunks are claimed dynamically, so a worker that starts late (or never,
/// on a loaded machine) costs nothing: its job is taken back if it has not
/// picked it up by the time the calling thread runs out of chunks.
///
/// # Safety
/// `kernel` is a generated kernel whose ranges may run concurrently (they
/// write disjoint elements), and `ins`, `outs`, `arena` are valid for it.
pub(crate) unsafe extern "C" fn adj_parallel_for(
    kernel: KernelFn,
    ins: usize,
    outs: usize,
    arena: usize,
    n: usize,
    grain: usize,
    threads: usize,
) {
    // SAFETY: forwarded contract.
    unsafe {
        split(
            kernel,
            [ins, outs, arena],
            n,
            grain,
            threads,
            CHUNKS_PER_THREAD,
        )
    }
}

/// Runs `f(lo, hi)` over `[0, n)` in chunks whose boundaries are multiples
/// of `grain`, about `chunks_per_thread` per thread, on the calling thread
/// and up to `threads - 1` pool workers (as [`adj_parallel_for`] does for a
/// generated kernel). `f` must be safe to run concurrently on disjoint
/// ranges; `Sync` makes sharing it sound.
pub(crate) fn parallel_ranges(
    n: usize,
    grain: usize,
    threads: usize,
    chunks_per_thread: usize,
    f: &(dyn Fn(usize, usize) + Sync),
) {
    /// Calls the closure that `ctx` points at on one range.
    ///
    /// # Safety
    /// `ctx` is the address of a live `&(dyn Fn(usize, usize) + Sync)`.
    unsafe extern "C" fn trampoline(ctx: usize, _: usize, _: usize, lo: usize, hi: usize) {
        // SAFETY: see the contract; `parallel_ranges` keeps the reference
        // alive until every range is done.
        let f = unsafe { *(ctx as *const &(dyn Fn(usize, usize) + Sync)) };
        f(lo, hi)
    }
    let ctx: *const &(dyn Fn(usize, usize) + Sync) = &f;
    // SAFETY: the trampoline only calls `f`, which is `Sync` and may run
    // on disjoint ranges concurrently; `ctx` outlives the split (it returns
    // only when every chunk is done).
    unsafe {
        split(
            trampoline,
            [ctx as usize, 0, 0],
            n,
            grain,
            threads,
            chunks_per_thread.max(1),
        )
    }
}

/// The body of [`adj_parallel_for`] and [`parallel_ranges`].
///
/// # Safety
/// As for [`adj_parallel_for`], with `args` the kernel's first three
/// arguments.
unsafe fn split(
    kernel: KernelFn,
    args: [usize; 3],
    n: usize,
    grain: usize,
    threads: usize,
    chunks_per_thread: usize,
) {
    let grain = grain.max(1);
    let p = pool();
    let parts = threads.min(p.workers.len() + 1).max(1);
    if parts == 1 || n <= grain {
        // SAFETY: the whole range on this thread.
        unsafe { kernel(args[0], args[1], args[2], 0, n) };
        return;
    }
    let chunk = n.div_ceil(parts * chunks_per_thread).div_ceil(grain) * grain;
    let work = Loop {
        f: kernel,
        args,
        n,
        chunk,
        next: AtomicUsize::new(0),
    };
    const MAX: usize = 16;
    let latches: [AtomicBool; MAX] = std::array::from_fn(|_| AtomicBool::new(true));
    let mut submitted = [false; MAX];
    let helpers = (parts - 1).min(n.div_ceil(chunk) - 1);
    for (i, w) in p.workers.iter().enumerate().take(helpers) {
        if let Ok(mut slot) = w.slot.try_lock() {
            if slot.is_none() && !w.pending.load(Ordering::Acquire) {
                latches[i].store(false, Ordering::Relaxed);
                *slot = Some(Job {
                    work: &work,
                    done: &latches[i],
                });
                w.pending.store(true, Ordering::Release);
                submitted[i] = true;
            }
        }
        if submitted[i] {
            if let Some(t) = w.thread.get() {
                t.unpark();
            }
        }
    }
    // SAFETY: this thread takes chunks too, until none are left.
    unsafe { work.run() };
    for (i, w) in p.workers.iter().enumerate().take(helpers) {
        if !submitted[i] {
            continue;
        }
        // A worker that has not picked up its job yet never will: take it
        // back (every chunk is done).
        if let Ok(mut slot) = w.slot.lock() {
            if slot.is_some_and(|j| std::ptr::eq(j.done, &latches[i])) {
                *slot = None;
                w.pending.store(false, Ordering::Release);
                continue;
            }
        }
        let mut spins = 0u32;
        while !latches[i].load(Ordering::Acquire) {
            spins += 1;
            if spins < 1 << 14 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}
