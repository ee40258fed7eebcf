//! Measuring one evaluation ([`crate::eval_with_stats`]): the bytes the
//! interpreter holds at each moment, their peak, and how many times each
//! body ran.
//!
//! Every tensor the interpreter creates is held through a [`Ticket`],
//! which adds its bytes to the thread's meter when it is made and takes
//! them away when it is dropped: a computed value ([`Held`], shared by
//! reference counting, so a value shared by several frames counts once),
//! a stacked output from its allocation on, a result while its kernel
//! builds it, and a kernel's scratch buffer. The caller's inputs and the
//! program's constants are borrowed and never counted. So the peak is
//! measured, from the lifetimes of the actual buffers, not predicted from
//! the types.
//!
//! The meter is per thread: an evaluation runs on one thread, and a
//! [`Session`] saves the meter of any evaluation it is nested in and
//! restores it when it ends.

use adjoint_ir::{RunStats, Tensor};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

thread_local! {
    /// The bytes held now.
    static LIVE: Cell<u64> = const { Cell::new(0) };
    /// The most bytes held at once since the session started.
    static PEAK: Cell<u64> = const { Cell::new(0) };
    /// Whether a [`Session`] is measuring (body runs are counted only
    /// then).
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// Body runs by function name.
    static EVALS: RefCell<BTreeMap<String, u64>> = const { RefCell::new(BTreeMap::new()) };
}

/// `bytes` held by the interpreter for as long as the ticket lives.
pub(crate) struct Ticket(u64);

impl Ticket {
    /// Counts `bytes` as held from now on.
    pub(crate) fn new(bytes: u64) -> Ticket {
        LIVE.with(|live| {
            let now = live.get().saturating_add(bytes);
            live.set(now);
            PEAK.with(|peak| peak.set(peak.get().max(now)));
        });
        Ticket(bytes)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        LIVE.with(|live| live.set(live.get().saturating_sub(self.0)));
    }
}

/// The bytes of `t`'s elements.
pub(crate) fn tensor_bytes(t: &Tensor) -> u64 {
    (t.len() as u64).saturating_mul(t.dtype().size_bytes() as u64)
}

/// A tensor the interpreter computed, counted while it lives.
pub(crate) struct Held {
    t: Tensor,
    _ticket: Ticket,
}

impl Held {
    /// Counts `t` as held.
    pub(crate) fn new(t: Tensor) -> Held {
        let ticket = Ticket::new(tensor_bytes(&t));
        Held { t, _ticket: ticket }
    }

    /// The tensor.
    pub(crate) fn get(&self) -> &Tensor {
        &self.t
    }

    /// The tensor, handed to the caller: no longer counted.
    pub(crate) fn into_inner(self) -> Tensor {
        self.t
    }
}

/// Counts one run of the function named `name` (a loop's or
/// conditional's body).
pub(crate) fn body_run(name: &str) {
    if !ACTIVE.with(Cell::get) {
        return;
    }
    EVALS.with(|e| {
        let mut e = e.borrow_mut();
        match e.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                e.insert(name.to_string(), 1);
            }
        }
    });
}

/// One measured evaluation: starts from an empty meter, and restores the
/// meter it replaced when it ends.
pub(crate) struct Session {
    saved: Option<(u64, u64, bool, BTreeMap<String, u64>)>,
}

impl Session {
    /// Starts measuring.
    pub(crate) fn start() -> Session {
        let live = LIVE.with(|c| c.replace(0));
        let peak = PEAK.with(|c| c.replace(0));
        let active = ACTIVE.with(|c| c.replace(true));
        let evals = EVALS.with(|e| std::mem::take(&mut *e.borrow_mut()));
        Session {
            saved: Some((live, peak, active, evals)),
        }
    }

    /// What was measured since the session started.
    pub(crate) fn stats(&self) -> RunStats {
        RunStats {
            working_bytes: PEAK.with(Cell::get),
            body_evals: EVALS.with(|e| e.borrow().clone()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((live, peak, active, evals)) = self.saved.take() {
            LIVE.with(|c| c.set(live));
            PEAK.with(|c| c.set(peak));
            ACTIVE.with(|c| c.set(active));
            EVALS.with(|e| *e.borrow_mut() = evals);
        }
    }
}
