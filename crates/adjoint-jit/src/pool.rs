//! A small pool of helper threads that run ranges of a generated kernel in
//! parallel with the calling thread.
//!
//! Each worker has one job slot. A caller that finds a worker busy (another
//! thread is using it) runs that part of the range itself, so the pool never
//! blocks and never deadlocks; small work never reaches the pool at all.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A generated kernel: `fn(ins, outs, arena, lo, hi)`.
pub(crate) type KernelFn = unsafe extern "C" fn(usize, usize, usize, usize, usize);

#[derive(Clone, Copy)]
struct Job {
    f: KernelFn,
    args: [usize; 3],
    lo: usize,
    hi: usize,
    done: *const AtomicBool,
}

// SAFETY: a job's pointers refer to buffers and a latch that the submitting
// caller keeps alive until the job signals completion.
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
            // SAFETY: the submitter keeps the kernel's buffers alive until
            // `done` is set, and the kernel only touches its own range.
            unsafe { (j.f)(j.args[0], j.args[1], j.args[2], j.lo, j.hi) };
            // SAFETY: the latch outlives the job (the submitter waits on it).
            unsafe { (*j.done).store(true, Ordering::Release) };
        }
    }
}

/// Runs `kernel` over `[0, n)`, split into up to `threads` ranges whose
/// boundaries are multiples of `grain`, one on the calling thread and the
/// others on pool workers.
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
    let grain = grain.max(1);
    let p = pool();
    let parts = threads.min(p.workers.len() + 1).max(1);
    let chunk = n.div_ceil(parts).div_ceil(grain) * grain;
    if parts == 1 || chunk >= n {
        // SAFETY: the whole range on this thread.
        unsafe { kernel(ins, outs, arena, 0, n) };
        return;
    }
    const MAX: usize = 16;
    let latches: [AtomicBool; MAX] = std::array::from_fn(|_| AtomicBool::new(true));
    let mut submitted = [false; MAX];
    for (i, w) in p.workers.iter().enumerate().take(parts - 1) {
        let lo = (i + 1) * chunk;
        if lo >= n {
            break;
        }
        let hi = (lo + chunk).min(n);
        let mut handed = false;
        if let Ok(mut slot) = w.slot.try_lock() {
            if slot.is_none() && !w.pending.load(Ordering::Acquire) {
                latches[i].store(false, Ordering::Relaxed);
                *slot = Some(Job {
                    f: kernel,
                    args: [ins, outs, arena],
                    lo,
                    hi,
                    done: &latches[i],
                });
                w.pending.store(true, Ordering::Release);
                handed = true;
            }
        }
        if handed {
            submitted[i] = true;
            if let Some(t) = w.thread.get() {
                t.unpark();
            }
        } else {
            // SAFETY: this range on the calling thread.
            unsafe { kernel(ins, outs, arena, lo, hi) };
        }
    }
    // SAFETY: the first range on the calling thread.
    unsafe { kernel(ins, outs, arena, 0, chunk.min(n)) };
    for (i, l) in latches.iter().enumerate() {
        if submitted[i] {
            let mut spins = 0u32;
            while !l.load(Ordering::Acquire) {
                spins += 1;
                if spins < 1 << 14 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}
