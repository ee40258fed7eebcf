//! What one call measures about itself ([`adjoint_ir::RunStats`]): how
//! often each loop or branch body ran, and the heap the `revolve` driver
//! allocated.
//!
//! Every body call site compiled with `JitOptions::count_body_evals` owns a
//! counter, indexed by the body's position in the compilation's name table
//! (`control_flow::Bodies`). The counters of one call live in the calling
//! thread's [`Scope`]: a zeroed table installed by `CompiledFn` for the
//! duration of the call, whose address the generated code fetches once per
//! loop ([`adj_body_counters`]) and increments in place after each body
//! call. Everything a call runs that can call a body (the generated code
//! of the function and its bodies, and the `revolve` driver) runs on the
//! calling thread, so concurrent calls of one `CompiledFn` (on different
//! threads) never share counters.

use std::cell::Cell;

thread_local! {
    /// The counter table of the call running on this thread (null outside
    /// calls, or when the function counts nothing).
    static COUNTERS: Cell<*mut u64> = const { Cell::new(std::ptr::null_mut()) };
    /// Heap bytes held now and at most by the `revolve` drivers of the call
    /// running on this thread.
    static HEAP: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// The counter table of the running call (called by the generated code
/// before a loop whose bodies are counted).
pub(crate) extern "C" fn adj_body_counters() -> *mut u64 {
    COUNTERS.with(Cell::get)
}

/// Adds `n` to counter `idx` of the running call.
pub(crate) fn count(idx: Option<usize>, n: u64) {
    let Some(idx) = idx else { return };
    let p = COUNTERS.with(Cell::get);
    if !p.is_null() {
        // SAFETY: a counter index is below the length of the name table of
        // the compilation, and `Scope::new` installs a table of that
        // length for every call of a function that counts.
        unsafe { *p.add(idx) += n };
    }
}

/// Records that the running call's drivers now hold `delta` more (or, when
/// negative, fewer) heap bytes.
pub(crate) fn heap_delta(delta: i64) {
    HEAP.with(|h| {
        let (cur, peak) = h.get();
        let cur = cur.saturating_add_signed(delta);
        h.set((cur, peak.max(cur)));
    });
}

/// The measurements of one call on this thread, installed while it runs.
pub(crate) struct Scope<'a> {
    prev_counters: *mut u64,
    prev_heap: (u64, u64),
    _counters: std::marker::PhantomData<&'a mut [u64]>,
}

impl<'a> Scope<'a> {
    /// Installs `counters` (zeroed by the caller) as the running call's
    /// table and resets the heap figures; the previous ones come back on
    /// drop.
    pub(crate) fn new(counters: &'a mut [u64]) -> Scope<'a> {
        let p = if counters.is_empty() {
            std::ptr::null_mut()
        } else {
            counters.as_mut_ptr()
        };
        Scope {
            prev_counters: COUNTERS.with(|c| c.replace(p)),
            prev_heap: HEAP.with(|h| h.replace((0, 0))),
            _counters: std::marker::PhantomData,
        }
    }

    /// The most heap bytes the call's drivers held at once so far.
    pub(crate) fn heap_peak(&self) -> u64 {
        HEAP.with(|h| h.get().1)
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        COUNTERS.with(|c| c.set(self.prev_counters));
        HEAP.with(|h| h.set(self.prev_heap));
    }
}
