//! The memory budget of reverse mode through loops: the `snapshots=S` and
//! `memory=BYTES` options of `grad`, `vjp` and `jacobian`, and the model
//! that turns a byte budget into a number of snapshots per loop (see
//! docs/passes.md, "Reverse mode under a memory budget").
//!
//! With a budget, [`crate::loop_vjp`] reverses a `scan` (and a bounded
//! `while`) with one [`adjoint_ir::Op::Revolve`] instead of storing
//! residuals (`loop_vjp_budget.rs`). The budget reaches the loop
//! rules through `with_budget`, which the passes wrap around
//! backpropagation; the loops' schedules come back as notes, which dumps
//! print as `#` comments.
//!
//! **The memory model** of one loop of `T` steps whose carries (the
//! states) take `s` bytes, given `B` bytes:
//!
//! - the fixed cost `F` is what one backward step needs whatever `S`: the
//!   current state and the step's output (`2·s`), the backward carries in
//!   and out (twice their bytes), the stacks of `xs` cotangents the loop
//!   returns (`T` rows each), and the peak of the backward body, counted
//!   as the bytes of all its values (no reuse assumed; loops nested in the
//!   body count their own results here, their snapshots below);
//! - a loop whose body holds loops gives half of `B` to them (each nested
//!   loop is budgeted with `B/2`, recursively), and keeps `B' = B/2`;
//!   otherwise `B' = B`;
//! - `S = min(T, ⌊(B' − F) / s⌋)` snapshots, an error when that is below
//!   one (the message names the loop, `s`, `F` and the least budget).
//!
//! Loops that run one after the other are reversed one after the other,
//! so each is budgeted with the whole of `B` (their snapshots are not live
//! at the same time). `snapshots=S` gives every loop, nested ones
//! included, `S` snapshots.

use crate::registry::OptionSpec;
use crate::PassOptions;
use adjoint_ir::{Error, Graph, Op, Result};
use std::cell::{Cell, RefCell};

/// A memory budget for reverse mode through loops. The default (neither
/// field) stores every residual, as without the options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// Hold at most this many carry snapshots per loop (`s_0` included;
    /// at least 1).
    pub snapshots: Option<usize>,
    /// One budget, in bytes, for what reverse mode holds across the
    /// iterations of loops, split over the loops (see the module docs).
    pub memory: Option<u64>,
}

/// The option specs of a budget, for the passes' `OPTIONS`.
pub const SNAPSHOTS_OPTION: OptionSpec = OptionSpec {
    name: "snapshots",
    help: "S >= 1: reverse loops by binomial checkpointing, holding at most S carry snapshots per loop (default: store every residual)",
};

/// See [`SNAPSHOTS_OPTION`].
pub const MEMORY_OPTION: OptionSpec = OptionSpec {
    name: "memory",
    help: "BYTES (plain, or with K/KB/KiB = 1024, M/MB/MiB = 1024^2, G/GB/GiB = 1024^3): one budget for what reverse mode holds across loop iterations; picks the snapshots of each loop (exclusive with snapshots)",
};

impl Budget {
    /// Whether no budget is set (every residual is stored).
    pub fn is_none(&self) -> bool {
        self.snapshots.is_none() && self.memory.is_none()
    }

    /// Reads and checks `snapshots=` and `memory=` of pass `pass`.
    pub fn from_options(pass: &str, o: &PassOptions) -> Result<Budget> {
        let snapshots = o.get_usize(pass, "snapshots")?;
        let memory = match o.get_one(pass, "memory")? {
            None => None,
            Some(v) => Some(parse_bytes(pass, v)?),
        };
        let b = Budget { snapshots, memory };
        b.check(pass)?;
        Ok(b)
    }

    /// The value checks: `snapshots >= 1`, `memory >= 1`, not both.
    pub fn check(&self, pass: &str) -> Result<()> {
        if self.snapshots == Some(0) {
            return Err(Error::input(format!(
                "{pass}: option `snapshots` must be at least 1 (the initial state is one snapshot), got 0"
            )));
        }
        if self.memory == Some(0) {
            return Err(Error::input(format!(
                "{pass}: option `memory` must be at least 1 byte, got 0"
            )));
        }
        if self.snapshots.is_some() && self.memory.is_some() {
            return Err(Error::input(format!(
                "{pass}: options `snapshots` and `memory` exclude each other; give one"
            )));
        }
        Ok(())
    }

    fn limit(&self) -> Option<Limit> {
        match (self.snapshots, self.memory) {
            (Some(s), _) => Some(Limit::Snapshots(s)),
            (None, Some(b)) => Some(Limit::Memory(b)),
            (None, None) => None,
        }
    }
}

/// Parses a byte count: digits, optionally followed by `K`/`KB`/`KiB`
/// (1024), `M`/`MB`/`MiB` (1024²) or `G`/`GB`/`GiB` (1024³), case
/// insensitive.
pub fn parse_bytes(pass: &str, v: &str) -> Result<u64> {
    let bad = || {
        Error::input(format!(
            "{pass}: option `memory` must be a byte count such as 65536, 128KB or 4MiB (K, KB, KiB = 1024 bytes; M, MB, MiB = 1024^2; G, GB, GiB = 1024^3), got `{v}`"
        ))
    };
    let t = v.trim();
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// The budget of one loop, as the loop rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// This many snapshots for every loop.
    Snapshots(usize),
    /// This many bytes for the loop and the loops nested in it.
    Memory(u64),
}

thread_local! {
    static LIMIT: Cell<Option<Limit>> = const { Cell::new(None) };
    static NOTES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Restores the previous limit when dropped.
pub(crate) struct Scope(Option<Limit>);

impl Drop for Scope {
    fn drop(&mut self) {
        LIMIT.with(|l| l.set(self.0));
    }
}

/// Sets the limit the loop rules see until the returned scope is dropped.
pub(crate) fn scoped(l: Option<Limit>) -> Scope {
    Scope(LIMIT.with(|c| c.replace(l)))
}

/// The limit of the loop being differentiated now, if any.
pub(crate) fn current() -> Option<Limit> {
    LIMIT.with(|c| c.get())
}

/// Records a line for the pass's notes (the loop schedules).
pub(crate) fn note(s: String) {
    NOTES.with(|n| n.borrow_mut().push(s));
}

/// Runs `f` (a backpropagation) under budget `b`; returns its result and
/// the schedule of each budgeted loop, one note per loop. Without a
/// budget, `f` runs unchanged and there are no notes.
pub(crate) fn with_budget<T>(
    b: &Budget,
    f: impl FnOnce() -> Result<T>,
) -> Result<(T, Vec<String>)> {
    let _scope = scoped(b.limit());
    let saved = NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()));
    let r = f();
    let notes = NOTES.with(|n| std::mem::replace(&mut *n.borrow_mut(), saved));
    Ok((r?, notes))
}

/// Whether `g` runs a loop (`scan`, `while`, `revolve`), directly or in a
/// body it runs.
pub(crate) fn has_loops(g: &Graph) -> bool {
    g.node_ids().into_iter().any(|id| {
        let op = &g[id].op;
        matches!(op, Op::Scan { .. } | Op::While { .. } | Op::Revolve { .. })
            || op.bodies().iter().any(|b| has_loops(b.graph()))
    })
}

/// The budget of the loops nested in the body of a loop budgeted `l`.
pub(crate) fn inner_limit(l: Limit, body_has_loops: bool) -> Limit {
    match l {
        Limit::Memory(b) if body_has_loops => Limit::Memory(b / 2),
        l => l,
    }
}

/// What the memory model needs to know about one loop.
#[derive(Clone, Debug)]
pub(crate) struct LoopCost {
    /// The loop, for messages and notes: `scan %h (body=@cell) in @f`.
    pub what: String,
    /// Its trip count (the bound, for a while).
    pub length: usize,
    /// The bytes of one state (all carries).
    pub state_bytes: u64,
    /// The fixed cost `F` of the module docs.
    pub fixed_bytes: u64,
    /// Whether its body runs loops.
    pub has_loops: bool,
}

/// The snapshots a loop gets under `l` (see the module docs).
pub(crate) fn snapshots(l: Limit, c: &LoopCost) -> Result<usize> {
    let budget = match l {
        Limit::Snapshots(s) => return Ok(s),
        Limit::Memory(b) => b,
    };
    let own = if c.has_loops {
        budget - budget / 2
    } else {
        budget
    };
    let most = c.length.max(1) as u64;
    let s = own
        .saturating_sub(c.fixed_bytes)
        .checked_div(c.state_bytes)
        .map_or(most, |s| s.min(most));
    if s == 0 {
        let least = c.fixed_bytes + c.state_bytes;
        let least = if c.has_loops { least * 2 } else { least };
        return Err(Error::pass(format!(
            "memory={budget}: {} does not fit; one snapshot of its state is {} bytes, one backward step needs {} more, so it needs at least {least} bytes{}",
            c.what,
            c.state_bytes,
            c.fixed_bytes,
            if c.has_loops {
                " (half of a loop's budget goes to the loops in its body)"
            } else {
                ""
            }
        )));
    }
    Ok(s as usize)
}

/// The bytes of the values of `g` (not its parameters and constants, nor
/// multi-result nodes, whose results are counted as their projections):
/// the model's peak of one body evaluation.
pub(crate) fn body_bytes(g: &Graph) -> u64 {
    g.node_ids()
        .into_iter()
        .filter(|&id| {
            let op = &g[id].op;
            !matches!(op, Op::Param { .. } | Op::Const(_)) && !op.is_multi_result()
        })
        .map(|id| g.ty(id).size_bytes() as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_binary_suffixes() {
        assert_eq!(parse_bytes("grad", "65536").unwrap(), 65536);
        assert_eq!(parse_bytes("grad", "128KB").unwrap(), 128 * 1024);
        assert_eq!(parse_bytes("grad", "128k").unwrap(), 128 * 1024);
        assert_eq!(parse_bytes("grad", "2KiB").unwrap(), 2048);
        assert_eq!(parse_bytes("grad", "4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_bytes("grad", "1G").unwrap(), 1 << 30);
        for bad in ["", "KB", "12TB", "-3", "1.5M", "99999999999999999999G"] {
            let e = parse_bytes("grad", bad).unwrap_err();
            assert!(e.message.contains("option `memory`"), "{bad}: {e}");
        }
    }
}
