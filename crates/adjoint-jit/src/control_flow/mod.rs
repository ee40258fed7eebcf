//! Loops and conditionals in the JIT: `scan`, `while` and `cond` as native
//! loops over separately compiled bodies.
//!
//! Every function a loop or branch runs (a [`adjoint_ir::BodyRef`]) is
//! compiled once per compilation, memoised by pointer ([`Bodies`]), with the
//! same machinery as the top-level function (recursively for nested loops):
//! it becomes a [`CompiledFn`] whose native entry has the ABI
//! `main(ins: *const *const u8, outs: *const *mut u8, arena: *mut u8)`.
//! The loop is one plan step ([`ControlStep`]) that the caller's code runs
//! as a Cranelift loop ([`emit`]): per trip it writes, into two small
//! pointer tables on its stack, the current carry buffer, `xs[t]` inside
//! the scanned input (`base + t·stride`, read in place), the invariants and
//! `ys[t]` inside the stacked output (written in place), calls the body,
//! and swaps the two carry buffers. Nothing is unrolled, so code size and
//! compile time do not depend on the trip count, and every buffer (carry
//! pairs, stacked outputs, a body's heap arena) is a buffer of the
//! caller's plan, allocated once in its arena under the memory budget.
//!
//! `while` calls the condition function and tests its `bool` before each
//! trip, bounded by `max_trips`; `cond` calls one of its two branches (the
//! other never runs). `Op::Project` is the loop's result buffer (no copy).
//! `iota` is a constant read through a broadcast view (one row along its
//! axis), and `and`/`or`/`not` are `select`s on bools inside kernels.

pub(crate) mod emit;
pub(crate) mod revolve;

use crate::compiled::CompiledFn;
use crate::kernel_ir::{BufId, ExprId, KExpr};
use crate::JitOptions;
use adjoint_ir::{BodyRef, DType, LogicalOp, Result};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use emit::emit;

/// How deep loop bodies may nest in a compiled function. Compiling a body
/// recurses (and so does running it: each level is a native call), so the
/// depth is bounded with a clear error instead of a stack overflow; the
/// interpreter runs deeper nests.
pub(crate) const MAX_BODY_DEPTH: usize = 32;

/// The bodies compiled during one compilation, memoised by the pointer of
/// their graph (a body shared by several loops is compiled once).
///
/// Bodies are compiled with `stack_arena_max = 0`: a body's arena is a
/// buffer of its caller's arena (allocated once, counted in the memory
/// budget), so nested calls keep only small frames on the native stack.
pub(crate) struct Bodies {
    opts: JitOptions,
    /// Bodies being compiled (the nesting depth).
    depth: usize,
    memo: HashMap<usize, Arc<CompiledFn>>,
    /// Every body compiled, in order (each once).
    pub compiled: Vec<Arc<CompiledFn>>,
    /// The names of the bodies whose evaluations are counted, by counter
    /// index (`JitOptions::count_body_evals`; see `crate::call_stats`).
    pub counter_names: Vec<String>,
    count: bool,
}

impl Bodies {
    /// An empty cache compiling with `opts`.
    pub fn new(opts: &JitOptions) -> Bodies {
        Bodies {
            opts: JitOptions {
                stack_arena_max: 0,
                ..opts.clone()
            },
            depth: 0,
            memo: HashMap::new(),
            compiled: Vec::new(),
            counter_names: Vec::new(),
            count: opts.count_body_evals,
        }
    }

    /// The counter of the body named `name` (one per name), or `None`
    /// when evaluations are not counted.
    pub fn counter(&mut self, name: &str) -> Option<usize> {
        if !self.count {
            return None;
        }
        Some(match self.counter_names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.counter_names.push(name.to_string());
                self.counter_names.len() - 1
            }
        })
    }

    /// The compiled body, compiling it on first use.
    pub fn get(&mut self, body: &BodyRef) -> Result<Arc<CompiledFn>> {
        let key = Arc::as_ptr(&body.0) as usize;
        if let Some(f) = self.memo.get(&key) {
            return Ok(f.clone());
        }
        if self.depth >= MAX_BODY_DEPTH {
            return Err(adjoint_ir::Error::jit(format!(
                "@{}: loop and branch bodies nest more than {MAX_BODY_DEPTH} deep, the JIT's \
                 limit (the interpreter runs deeper nests)",
                body.name()
            )));
        }
        let opts = self.opts.clone();
        self.depth += 1;
        let f = crate::compile_with(body.graph(), &opts, self);
        self.depth -= 1;
        let f = Arc::new(f?);
        self.memo.insert(key, f.clone());
        self.compiled.push(f.clone());
        Ok(f)
    }
}

/// A compiled function a loop step calls.
#[derive(Clone, Debug)]
pub(crate) struct Callee {
    /// The address of its native entry (kept alive by the plan's bodies).
    pub entry: usize,
    /// The function's name, for dumps.
    pub name: String,
    /// The caller's buffer that serves as the callee's arena, when the
    /// callee's arena is too large for its own stack.
    pub arena: Option<BufId>,
    /// The counter of its evaluations (`crate::call_stats`), when counted.
    pub counter: Option<usize>,
}

/// A contiguous value in a buffer, starting at element `offset`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Port {
    pub buf: BufId,
    pub offset: i64,
    pub dtype: DType,
}

/// A stacked value: slice `t` starts at element `offset + t·stride`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stacked {
    pub port: Port,
    pub stride: i64,
}

/// One loop carry: two buffers that swap every trip. The init is copied
/// into `start` before the loop; the final value is in `result` after it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Carry {
    pub start: BufId,
    pub other: BufId,
    pub result: BufId,
    pub bytes: usize,
}

/// What a control step runs.
#[derive(Clone, Debug)]
pub(crate) enum ControlKind {
    /// `length` trips of `body`, reading `xs[t]` and writing `ys[t]` in
    /// place (`t` descending with `reverse`).
    Scan {
        length: usize,
        /// A constant holding `length` as an `i64`: the code loads the
        /// trip count, so that it is the same code whatever the count
        /// (an immediate's encoding would depend on its size).
        count: BufId,
        reverse: bool,
        body: Callee,
        xs: Vec<Stacked>,
        ys: Vec<Stacked>,
    },
    /// `body` while `cond` says so, at most `max_trips` times.
    While {
        max_trips: Option<usize>,
        /// A constant holding `max_trips` as an `i64` (see `Scan::count`).
        count: BufId,
        cond: Callee,
        body: Callee,
    },
    /// A checkpointed reverse scan, run by the host driver
    /// ([`revolve::adj_revolve`]) on the static figures of `desc` and the
    /// buffers of [`RevolveBufs`] (in the order of [`RevolveBufs::table`]).
    Revolve {
        desc: Arc<revolve::RevolveDesc>,
        bufs: RevolveBufs,
    },
    /// `then` or `els` on the arguments, by `pred`, writing `results`.
    Cond {
        pred: Port,
        then: Callee,
        els: Callee,
        results: Vec<BufId>,
    },
}

/// Where a driver-run operand or buffer of a `revolve` lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ptr {
    /// A value in a buffer of the plan.
    Port(Port),
    /// The start of a buffer of the plan.
    Buf(BufId),
    /// No buffer (a null pointer).
    Null,
}

/// The buffers of a `revolve` step besides its carries (in
/// [`ControlStep::carries`]) and invariants ([`ControlStep::args`]).
#[derive(Clone, Debug)]
pub(crate) struct RevolveBufs {
    /// The mask (`masked=true`).
    pub mask: Option<Port>,
    /// The initial states `s_0`, read in place: the bottom snapshot.
    pub states: Vec<Port>,
    pub xs: Vec<Stacked>,
    pub ys: Vec<Stacked>,
    /// The current state's two buffers, per state.
    pub work: Vec<(BufId, BufId)>,
    /// The snapshots above `s_0` (`min(S, N) − 1` slots), if any.
    pub snaps: Option<BufId>,
    pub step: Callee,
    pub body: Callee,
}

impl RevolveBufs {
    /// The pointer table the driver reads, in its order: the mask, the
    /// `K` initial states, the `C` carries' start, other and result
    /// buffers, the `M` scanned inputs, the `P` invariants, the `Q`
    /// stacked outputs, the `K` first and `K` second work buffers, the
    /// snapshots, the step's arena and the body's arena.
    pub fn table(&self, carries: &[Carry], args: &[Port]) -> Vec<Ptr> {
        let mut t = vec![self.mask.map_or(Ptr::Null, Ptr::Port)];
        t.extend(self.states.iter().map(|&p| Ptr::Port(p)));
        t.extend(carries.iter().map(|c| Ptr::Buf(c.start)));
        t.extend(carries.iter().map(|c| Ptr::Buf(c.other)));
        t.extend(carries.iter().map(|c| Ptr::Buf(c.result)));
        t.extend(self.xs.iter().map(|s| Ptr::Port(s.port)));
        t.extend(args.iter().map(|&p| Ptr::Port(p)));
        t.extend(self.ys.iter().map(|s| Ptr::Port(s.port)));
        t.extend(self.work.iter().map(|w| Ptr::Buf(w.0)));
        t.extend(self.work.iter().map(|w| Ptr::Buf(w.1)));
        for b in [self.snaps, self.step.arena, self.body.arena] {
            t.push(b.map_or(Ptr::Null, Ptr::Buf));
        }
        t
    }
}

/// A `scan`, `while`, `cond` or `revolve` of the plan.
#[derive(Clone, Debug)]
pub(crate) struct ControlStep {
    /// A name for dumps (`scan %c`).
    pub label: String,
    pub kind: ControlKind,
    pub carries: Vec<Carry>,
    /// The loop invariants (loops), or the branch operands (`cond`).
    pub args: Vec<Port>,
}

impl ControlStep {
    /// Every buffer the step reads or writes (for the arena's liveness).
    pub fn buffers(&self) -> Vec<BufId> {
        let mut out: Vec<BufId> = self.args.iter().map(|p| p.buf).collect();
        for c in &self.carries {
            out.extend([c.start, c.other, c.result]);
        }
        let callees: Vec<&Callee> = match &self.kind {
            ControlKind::Scan {
                body,
                xs,
                ys,
                count,
                ..
            } => {
                out.push(*count);
                out.extend(xs.iter().chain(ys).map(|s| s.port.buf));
                vec![body]
            }
            ControlKind::While {
                cond, body, count, ..
            } => {
                out.push(*count);
                vec![cond, body]
            }
            ControlKind::Cond {
                pred,
                then,
                els,
                results,
            } => {
                out.push(pred.buf);
                out.extend(results);
                vec![then, els]
            }
            ControlKind::Revolve { bufs, .. } => {
                for p in bufs.table(&self.carries, &self.args) {
                    match p {
                        Ptr::Port(p) => out.push(p.buf),
                        Ptr::Buf(b) => out.push(b),
                        Ptr::Null => {}
                    }
                }
                vec![&bufs.step, &bufs.body]
            }
        };
        out.extend(callees.iter().filter_map(|c| c.arena));
        out
    }

    /// One line for plan dumps.
    pub fn describe(&self) -> String {
        match &self.kind {
            ControlKind::Scan {
                length,
                reverse,
                body,
                xs,
                ys,
                ..
            } => format!(
                "{}: scan of @{} x {length}{}, {} carries, {} xs, {} invariants, {} ys",
                self.label,
                body.name,
                if *reverse { " (reverse)" } else { "" },
                self.carries.len(),
                xs.len(),
                self.args.len(),
                ys.len()
            ),
            ControlKind::While {
                max_trips,
                cond,
                body,
                ..
            } => format!(
                "{}: while @{} do @{}{}, {} carries, {} invariants",
                self.label,
                cond.name,
                body.name,
                max_trips.map_or(String::new(), |m| format!(" (at most {m} trips)")),
                self.carries.len(),
                self.args.len()
            ),
            ControlKind::Revolve { desc, bufs } => format!(
                "{}: revolve of @{} after @{} x {}{}, {} snapshots ({} bytes each), {} states, \
                 {} carries, {} xs, {} invariants, {} ys",
                self.label,
                bufs.body.name,
                bufs.step.name,
                desc.length,
                if desc.masked { " (masked)" } else { "" },
                desc.snapshots,
                desc.slot_bytes,
                bufs.states.len(),
                self.carries.len(),
                bufs.xs.len(),
                self.args.len(),
                bufs.ys.len()
            ),
            ControlKind::Cond { then, els, .. } => format!(
                "{}: cond then @{} else @{}, {} operands",
                self.label,
                then.name,
                els.name,
                self.args.len()
            ),
        }
    }
}

/// The values of a 1-D `iota` of `len` elements in `dtype` (f32 or f64),
/// as the little-endian bytes of a constant; the element at `i` is `i`,
/// exactly as the interpreter converts it (`as f32` rounds past 2^24).
pub(crate) fn iota_row(dtype: DType, len: usize) -> adjoint_ir::TensorData {
    match dtype {
        DType::F32 => adjoint_ir::TensorData::F32((0..len).map(|i| i as f32).collect()),
        _ => adjoint_ir::TensorData::F64((0..len).map(|i| i as f64).collect()),
    }
}

/// `and`, `or` and `not` on bools (0/1) as `select`s: `a and b = a ? b :
/// false`, `a or b = a ? true : b`, `not a = a ? false : true`. `push`
/// adds a bool expression and returns its index.
pub(crate) fn logical(
    op: LogicalOp,
    args: &[ExprId],
    mut push: impl FnMut(KExpr) -> ExprId,
) -> ExprId {
    match op {
        LogicalOp::And => {
            let f = push(KExpr::Const(0.0));
            push(KExpr::Select(args[0], args[1], f))
        }
        LogicalOp::Or => {
            let t = push(KExpr::Const(1.0));
            push(KExpr::Select(args[0], t, args[1]))
        }
        LogicalOp::Not => {
            let f = push(KExpr::Const(0.0));
            let t = push(KExpr::Const(1.0));
            push(KExpr::Select(args[0], f, t))
        }
    }
}
