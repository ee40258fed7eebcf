//! Lowering of a [`Plan`] to Cranelift IR.
//!
//! The plan's steps become one entry function
//! `main(ins: *const *const u8, outs: *const *mut u8, arena: *mut u8)`.
//! Loop kernels are emitted inline in it (in a long plan, inline in
//! functions of the same signature that `main` calls in order, each of at
//! most 64 steps: see [`step_chunks`]), except large kernels that are
//! split across threads: those become functions
//! `kernel(ins, outs, arena, lo, hi)` over a range of their outermost loop,
//! run through the host's parallel-for.
//!
//! Inner loops run in one of two modes:
//! - *vector*: four elements a step (`f64x2` twice or `f32x4` once; eight
//!   in long loops, see [`kernel::WIDE_MIN_ELEMS`]), when
//!   every load has inner stride 0 or 1, every store stride 1, and the
//!   kernel has no bool memory traffic and no casts; a scalar tail follows.
//!   Values of a padded region read at shifted indices come from the
//!   previous step's vectors when the loop computes them anyway
//!   ([`crate::stencil`]);
//! - *scalar*: one element a step (four for reductions, unrolled so that
//!   element `k` of a reduction goes into partial sum `k mod 4`).
//!
//! Reductions run in blocks of `adjoint_ir::REDUCE_SUM_BLOCK` elements
//! (the reduction order of the IR); a reduction of several blocks without
//! outer loops is split across threads at block boundaries, each block's
//! result left in a scratch slot and the slots folded in order after the
//! threads are done.
//!
//! Files: `module.rs` (ISA, JIT module, function definition), `context.rs`
//! (the lowering context), `kernel.rs` (loop nests and inner loops),
//! `reduce.rs` (reductions), `expr.rs` (expression evaluation), `math.rs`
//! (math ops and host calls), `loops.rs` (counted loops and addresses),
//! `parallel.rs` (threads), `clif.rs` (small Cranelift helpers).

mod clif;
mod context;
mod expr;
mod kernel;
mod loops;
mod math;
mod module;
mod parallel;
mod reduce;

pub(crate) use context::Addresses;
pub(crate) use module::lower;

use crate::kernel_ir::{Plan, Step};
use crate::libcall::HostFn;
use crate::JitOptions;
use adjoint_ir::Result;
use context::{Ctx, Env};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{AbiParam, InstBuilder, StackSlotData, StackSlotKind};
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{FuncId, Module};
use std::collections::HashMap;

/// The largest arena kept on the stack of the generated code, whatever
/// `JitOptions::stack_arena_max` says (a stack slot's size is 32-bit, and a
/// thread's stack is a few MiB).
pub(crate) const MAX_STACK_ARENA: usize = 1 << 20;

/// Whether an arena of `bytes` lives on the stack of the generated code
/// (else in the calling thread's scratch buffer).
pub(crate) fn arena_on_stack(bytes: usize, opts: &JitOptions) -> bool {
    bytes <= opts.stack_arena_max.min(MAX_STACK_ARENA)
}

/// The most steps one generated function holds.
pub(super) const MAX_STEPS_PER_FN: usize = 64;

/// The most kernel expressions and accesses one generated function holds
/// (a kernel larger than this gets a function of its own).
pub(super) const MAX_WEIGHT_PER_FN: usize = 4096;

/// The steps cut into consecutive ranges, one per generated function, of
/// at most [`MAX_STEPS_PER_FN`] steps and [`MAX_WEIGHT_PER_FN`] expressions
/// and accesses. Cranelift's cost grows faster than linearly in the size
/// of one function (a chain of 4,000 loops in one function took 0.3 GB and
/// 5 s to compile, 20,000 ran out of memory), so bounding every function
/// keeps compile time and memory linear in the number of steps. A plan
/// that fits in one range stays in `main`, as before.
pub(super) fn step_chunks(plan: &Plan) -> Vec<std::ops::Range<usize>> {
    let weight = |s: &Step| match s {
        Step::Kernel(k) => 1 + k.exprs.len() + k.accesses.len(),
        Step::MatMul { .. } | Step::Control(_) => 1,
    };
    let mut out = Vec::new();
    let (mut start, mut w) = (0, 0);
    for (i, s) in plan.steps.iter().enumerate() {
        let sw = weight(s);
        if i > start && (i - start >= MAX_STEPS_PER_FN || w + sw > MAX_WEIGHT_PER_FN) {
            out.push(start..i);
            (start, w) = (i, 0);
        }
        w += sw;
    }
    out.push(start..plan.steps.len());
    out
}

impl Ctx<'_> {
    pub(super) fn define_main(&mut self) -> Result<FuncId> {
        let mut sig = self.module.make_signature();
        for _ in 0..3 {
            sig.params.push(AbiParam::new(I64));
        }
        // Kernels that run in parallel become functions first.
        let mut par_fns: HashMap<usize, FuncId> = HashMap::new();
        for (i, s) in self.plan.steps.iter().enumerate() {
            if let Step::Kernel(k) = s {
                if self.parallel(k) {
                    let sig = self.kernel_sig.clone();
                    let f = self.define_fn(&format!("kernel{i}"), sig, |cx, b, p| {
                        let mut env = Env {
                            ins: p[0],
                            outs: p[1],
                            arena: p[2],
                            refs: HashMap::new(),
                        };
                        cx.emit_kernel(b, &mut env, k, Some((p[3], p[4])))?;
                        Ok(vec![])
                    })?;
                    par_fns.insert(i, f);
                    self.parallel_kernels += 1;
                }
            }
        }
        // Long programs: the steps are cut into functions of bounded size
        // that `main` calls in order (see `step_chunks`).
        let chunks = step_chunks(self.plan);
        let mut chunk_fns = Vec::new();
        if chunks.len() > 1 {
            for (c, range) in chunks.iter().enumerate() {
                let f = self.define_fn(&format!("steps{c}"), sig.clone(), |cx, b, p| {
                    let mut env = Env {
                        ins: p[0],
                        outs: p[1],
                        arena: p[2],
                        refs: HashMap::new(),
                    };
                    cx.emit_steps(b, &mut env, range.clone(), &par_fns)?;
                    Ok(vec![])
                })?;
                chunk_fns.push(f);
            }
        }
        let arena_bytes = self.plan.arena_bytes;
        let on_stack = arena_bytes > 0 && arena_on_stack(arena_bytes, self.opts);
        self.define_fn("main", sig, |cx, b, p| {
            let arena = if on_stack {
                let slot = b.create_sized_stack_slot(StackSlotData::new(
                    StackSlotKind::ExplicitSlot,
                    arena_bytes as u32,
                    6,
                ));
                b.ins().stack_addr(I64, slot, 0)
            } else {
                p[2]
            };
            let mut env = Env {
                ins: p[0],
                outs: p[1],
                arena,
                refs: HashMap::new(),
            };
            if chunk_fns.is_empty() {
                cx.emit_steps(b, &mut env, 0..cx.plan.steps.len(), &par_fns)?;
                return Ok(vec![]);
            }
            for &f in &chunk_fns {
                let fref = cx.module.declare_func_in_func(f, b.func);
                b.ins().call(fref, &[env.ins, env.outs, env.arena]);
            }
            Ok(vec![])
        })
    }

    /// Emits the plan's steps `range` in order into the function `b`.
    pub(super) fn emit_steps(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        range: std::ops::Range<usize>,
        par_fns: &HashMap<usize, FuncId>,
    ) -> Result<()> {
        for i in range {
            match &self.plan.steps[i] {
                Step::Kernel(k) => {
                    if let Some(&f) = par_fns.get(&i) {
                        self.emit_parallel_call(b, env, k, f)?;
                    } else {
                        self.emit_kernel(b, env, k, None)?;
                    }
                }
                Step::Control(c) => {
                    // The host functions a step calls, declared first (the
                    // buffer closure borrows the context).
                    let hosts = crate::control_flow::emit::Hosts {
                        counters: self.host_ref(b, env, HostFn::BodyCounters),
                        revolve: self.host_ref(b, env, HostFn::Revolve),
                    };
                    crate::control_flow::emit(
                        b,
                        c,
                        &mut |b, buf| self.buf_base(b, env, buf),
                        &hosts,
                    )
                }
                Step::MatMul { desc, a, b: bb, c } => {
                    let d = b.ins().iconst(I64, self.addrs.descs[*desc] as i64);
                    let pa = self.buf_base(b, env, *a);
                    let pb = self.buf_base(b, env, *bb);
                    let pc = self.buf_base(b, env, *c);
                    let f = self.host_ref(b, env, HostFn::MatMul);
                    b.ins().call(f, &[d, pa, pb, pc]);
                }
            }
        }
        Ok(())
    }
}
