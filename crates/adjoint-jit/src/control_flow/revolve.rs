//! The host driver of `revolve` (a checkpointed reverse scan, docs/ir.md
//! §13): a Rust function the generated code calls through the typed host
//! table ([`crate::libcall::HostFn::Revolve`]) with the op's static
//! figures ([`RevolveDesc`], owned by the plan) and a pointer table of its
//! buffers (every one a buffer of the caller's plan, in the order of
//! [`super::RevolveBufs::table`]).
//!
//! The driver follows [`adjoint_ir::revolve::Schedule`] exactly, so the
//! step runs `forward_steps(n, S)` times, and calls the separately
//! compiled step and body through their native entries. Snapshots live in
//! one arena buffer of `min(S, N) − 1` slots (the initial states, read in
//! place, are the bottom snapshot); the current state alternates between
//! two work buffers, except that the advance right before a `Save` writes
//! its last state straight into the new snapshot's slot and a `Restore`
//! reads the snapshot in place: the driver never copies a state. Carries
//! swap between their two buffers every reverse step and end in their
//! result buffer; rows `t ≥ n` of the stacked outputs are zeroed.

use crate::call_stats;
use crate::compiled::EntryFn;
use adjoint_ir::revolve::{Action, Schedule};

/// The static figures of one `revolve`, fixed at compile time. Its address
/// is baked into the code; it lives (in an `Arc`) in the plan the compiled
/// function keeps.
#[derive(Debug)]
pub(crate) struct RevolveDesc {
    /// `N`, the trip-count bound.
    pub length: usize,
    /// `S`, the most states held, `s_0` included.
    pub snapshots: usize,
    /// Whether the pointer table's first entry is a `bool[N]` mask.
    pub masked: bool,
    /// Bytes of each state.
    pub state_bytes: Vec<usize>,
    /// Offset of each state in a snapshot slot.
    pub slot_offsets: Vec<usize>,
    /// Bytes of one snapshot slot (all states).
    pub slot_bytes: usize,
    /// Bytes of each carry.
    pub carry_bytes: Vec<usize>,
    /// Bytes between consecutive slices of each scanned input.
    pub x_strides: Vec<isize>,
    /// Bytes of one row of each stacked output (rows are contiguous).
    pub y_rows: Vec<usize>,
    /// The number of invariants.
    pub invariants: usize,
    /// The forward step's native entry.
    pub step: EntryFn,
    /// The reverse body's native entry.
    pub body: EntryFn,
    /// The counters of the step's and the body's evaluations.
    pub step_counter: Option<usize>,
    pub body_counter: Option<usize>,
}

impl RevolveDesc {
    /// Entries of the pointer table.
    pub fn table_len(&self) -> usize {
        let (k, c) = (self.state_bytes.len(), self.carry_bytes.len());
        1 + 3 * k + 3 * c + self.x_strides.len() + self.invariants + self.y_rows.len() + 3
    }
}

/// Which buffer holds the current state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cur {
    /// Snapshot `j` (0: the initial states).
    Snap(usize),
    /// The first work buffers.
    A,
    /// The second work buffers.
    B,
}

/// Runs one `revolve`: `desc` is the op's descriptor, `table` its pointer
/// table (see the module documentation).
///
/// # Safety
/// `desc` points to a live [`RevolveDesc`] and `table` to
/// [`RevolveDesc::table_len`] pointers to buffers of the sizes the
/// descriptor was planned with, as the generated code passes them.
pub(crate) unsafe extern "C" fn adj_revolve(desc: *const RevolveDesc, table: *const *mut u8) {
    // SAFETY: the generated code passes the address of the descriptor the
    // plan owns (alive while the compiled function is) and a table of
    // exactly `table_len` entries on its stack.
    let (d, t) = unsafe {
        let d = &*desc;
        (d, std::slice::from_raw_parts(table, d.table_len()))
    };
    // SAFETY: the caller's contract, forwarded.
    unsafe { run(d, t) }
}

/// A cursor over the pointer table.
struct Table<'a>(&'a [*mut u8]);

impl<'a> Table<'a> {
    fn take(&mut self, n: usize) -> &'a [*mut u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// # Safety
/// As [`adj_revolve`].
unsafe fn run(d: &RevolveDesc, table: &[*mut u8]) {
    let (k, c, m, q) = (
        d.state_bytes.len(),
        d.carry_bytes.len(),
        d.x_strides.len(),
        d.y_rows.len(),
    );
    let p = d.invariants;
    let mut tb = Table(table);
    let mask = tb.take(1)[0];
    let s0 = tb.take(k);
    let start = tb.take(c);
    let other = tb.take(c);
    let result = tb.take(c);
    let xs = tb.take(m);
    let inv = tb.take(p);
    let ys = tb.take(q);
    let wa = tb.take(k);
    let wb = tb.take(k);
    let [snaps, step_arena, body_arena] = [tb.take(1)[0], tb.take(1)[0], tb.take(1)[0]];

    let n = if d.masked {
        // SAFETY: the mask is a `bool[N]` (one byte each, 0 or 1).
        let mask = unsafe { std::slice::from_raw_parts(mask, d.length) };
        mask.iter().take_while(|&&b| b != 0).count()
    } else {
        d.length
    };
    for (&y, &row) in ys.iter().zip(&d.y_rows) {
        // SAFETY: each stacked output holds `N` contiguous rows of `row`
        // bytes; rows `n..N` are zero (all-zero bits: `+0`, `false`).
        unsafe { std::ptr::write_bytes(y.add(n * row), 0, (d.length - n) * row) };
    }

    // The calls' pointer tables (the invariants never change).
    let mut step_ins: Vec<*const u8> = vec![std::ptr::null(); k + m + p];
    let mut step_outs: Vec<*mut u8> = vec![std::ptr::null_mut(); k];
    let mut body_ins: Vec<*const u8> = vec![std::ptr::null(); c + k + m + p];
    let mut body_outs: Vec<*mut u8> = vec![std::ptr::null_mut(); c + q];
    for (j, &v) in inv.iter().enumerate() {
        step_ins[k + m + j] = v;
        body_ins[c + k + m + j] = v;
    }
    let mut carry: Vec<*mut u8> = start.to_vec();
    let mut carry_next: Vec<*mut u8> = other.to_vec();
    let mut sched = Schedule::new(n, d.snapshots);
    let ptr_bytes = std::mem::size_of::<*const u8>();
    let tables = (step_ins.capacity()
        + step_outs.capacity()
        + body_ins.capacity()
        + body_outs.capacity()
        + carry.capacity()
        + carry_next.capacity())
        * ptr_bytes;
    let mut held = (tables + sched.heap_bytes()) as i64;
    call_stats::heap_delta(held);

    // The address of state `s` in `cur`.
    let state = |cur: Cur, s: usize| -> *mut u8 {
        match cur {
            Cur::Snap(0) => s0[s],
            // SAFETY: snapshot `j >= 1` is slot `j - 1` of the snapshot
            // buffer, which has `min(S, N) - 1` slots, and the schedule
            // holds at most `min(S, n)` snapshots.
            Cur::Snap(j) => unsafe { snaps.add((j - 1) * d.slot_bytes + d.slot_offsets[s]) },
            Cur::A => wa[s],
            Cur::B => wb[s],
        }
    };
    let mut depth = 1usize;
    let mut cur = Cur::Snap(0);
    let mut forward = 0u64;
    let mut next = sched.next();
    while let Some(act) = next {
        next = sched.next();
        match act {
            Action::Restore { .. } => cur = Cur::Snap(depth - 1),
            Action::Advance { from, to } => {
                let save = matches!(next, Some(Action::Save { .. }));
                for t in from..to {
                    let out = if save && t + 1 == to {
                        Cur::Snap(depth)
                    } else if cur == Cur::A {
                        Cur::B
                    } else {
                        Cur::A
                    };
                    for s in 0..k {
                        step_ins[s] = state(cur, s);
                        step_outs[s] = state(out, s);
                    }
                    for (j, (&x, &stride)) in xs.iter().zip(&d.x_strides).enumerate() {
                        step_ins[k + j] = x.wrapping_offset(t as isize * stride);
                    }
                    // SAFETY: the step's entry has the ABI `main(ins,
                    // outs, arena)`; its tables hold its parameters and
                    // results in order, each a buffer of its type, its
                    // output buffers distinct from its inputs, and its
                    // arena is its planned buffer (or null when it keeps
                    // its arena on its own stack).
                    unsafe { (d.step)(step_ins.as_ptr(), step_outs.as_ptr(), step_arena) };
                    cur = out;
                }
                forward += (to - from) as u64;
            }
            Action::Save { .. } => {
                if cur != Cur::Snap(depth) {
                    for (s, &bytes) in d.state_bytes.iter().enumerate() {
                        // SAFETY: both are buffers of state `s` (distinct:
                        // the destination is the free slot above the top).
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                state(cur, s),
                                state(Cur::Snap(depth), s),
                                bytes,
                            )
                        };
                    }
                }
                cur = Cur::Snap(depth);
                depth += 1;
            }
            Action::Drop => depth -= 1,
            Action::Reverse { t, from_snapshot } => {
                let st = if from_snapshot {
                    Cur::Snap(depth - 1)
                } else {
                    cur
                };
                for (j, (&now, &then)) in carry.iter().zip(&carry_next).enumerate() {
                    body_ins[j] = now;
                    body_outs[j] = then;
                }
                for s in 0..k {
                    body_ins[c + s] = state(st, s);
                }
                for (j, (&x, &stride)) in xs.iter().zip(&d.x_strides).enumerate() {
                    body_ins[c + k + j] = x.wrapping_offset(t as isize * stride);
                }
                for (j, (&y, &row)) in ys.iter().zip(&d.y_rows).enumerate() {
                    body_outs[c + j] = y.wrapping_add(t * row);
                }
                // SAFETY: as for the step: the body's parameters are the
                // carries, states, slices and invariants, its results the
                // next carries (the other buffers) and row `t` of each
                // stacked output.
                unsafe { (d.body)(body_ins.as_ptr(), body_outs.as_ptr(), body_arena) };
                std::mem::swap(&mut carry, &mut carry_next);
            }
        }
        let now = (tables + sched.heap_bytes()) as i64;
        if now != held {
            call_stats::heap_delta(now - held);
            held = now;
        }
    }
    for j in 0..c {
        if carry[j] != result[j] {
            // SAFETY: two distinct buffers of carry `j`.
            unsafe { std::ptr::copy_nonoverlapping(carry[j], result[j], d.carry_bytes[j]) };
        }
    }
    call_stats::heap_delta(-held);
    call_stats::count(d.step_counter, forward);
    call_stats::count(d.body_counter, n as u64);
}
