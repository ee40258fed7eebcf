//! Kernels split across threads: the decision, the call of the host's
//! parallel-for, and the in-order fold of a split reduction's block
//! results.

use super::clif::{flags, scalar_ty};
use super::context::{Ctx, Env};
use super::loops::{begin_loop, end_loop};
use super::math::transcendentals;
use super::reduce::{identity, reduce_op};
use crate::kernel_ir::Kernel;
use crate::libcall::HostFn;
use adjoint_ir::{Result, REDUCE_SUM_BLOCK};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::InstBuilder;
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{FuncId, Module};

/// How many elementwise operations one transcendental function costs, for
/// the decision to split a loop across threads (a polynomial `tanh` takes
/// about as long per element as a dozen additions).
pub(super) const TRANSCENDENTAL_WEIGHT: usize = 4;

impl Ctx<'_> {
    /// Whether a kernel is split across threads.
    /// The element count is weighted by the transcendental functions per
    /// element, so a `tanh` layer of 32k elements splits while a plain sum of
    /// as many does not (it would not repay the threads' start-up).
    pub(super) fn parallel(&self, k: &Kernel) -> bool {
        let work = k.numel() * (1 + TRANSCENDENTAL_WEIGHT * transcendentals(k));
        if self.threads < 2 || work < self.opts.parallel_min_elems {
            return false;
        }
        // Reductions keep their order: an outer loop may split, and an
        // inner loop of several blocks splits at block boundaries.
        if !k.reductions.is_empty() {
            return match k.outer.first() {
                Some(&n) => n >= 2,
                None => k.reductions.iter().all(|r| r.scratch.is_some()),
            };
        }
        true
    }

    /// The length of the loop a parallel kernel's range refers to.
    pub(super) fn split_len(k: &Kernel) -> usize {
        if k.outer.is_empty() {
            k.inner_len()
        } else {
            k.outer[0]
        }
    }

    pub(super) fn emit_parallel_call(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        f: FuncId,
    ) -> Result<()> {
        let fref = self.module.declare_func_in_func(f, b.func);
        let fptr = b.ins().func_addr(I64, fref);
        let n = b.ins().iconst(I64, Self::split_len(k) as i64);
        // Split points of an inner loop stay multiples of 4 (whole vector
        // steps), or of the reduction block; outer loops split anywhere.
        let inner_reduce = k.outer.is_empty() && !k.reductions.is_empty();
        let grain = match (k.outer.is_empty(), inner_reduce) {
            (_, true) => REDUCE_SUM_BLOCK as i64,
            (true, false) => 4,
            (false, _) => 1,
        };
        let grain = b.ins().iconst(I64, grain);
        let threads = b.ins().iconst(I64, self.threads as i64);
        let pf = self.host_ref(b, env, HostFn::ParallelFor);
        b.ins()
            .call(pf, &[fptr, env.ins, env.outs, env.arena, n, grain, threads]);
        if inner_reduce {
            self.fold_block_slots(b, env, k);
        }
        Ok(())
    }

    /// After the threads of a split reduction are done: each result is its
    /// block slots folded left to right.
    pub(super) fn fold_block_slots(&mut self, b: &mut FunctionBuilder, env: &mut Env, k: &Kernel) {
        let blocks = k.inner_len().div_ceil(REDUCE_SUM_BLOCK) as i64;
        for r in &k.reductions {
            let Some(buf) = r.scratch else { continue };
            let dt = k.tys[r.value];
            let es = dt.size_bytes() as i64;
            let base = self.buf_base(b, env, buf);
            let total = b.declare_var(scalar_ty(dt));
            let id = identity(b, r.kind, dt);
            b.def_var(total, id);
            let zero = b.ins().iconst(I64, 0);
            let end = b.ins().iconst(I64, blocks);
            let (l, j) = begin_loop(b, zero, end, 1);
            let off = b.ins().imul_imm_s(j, es);
            let p = b.ins().iadd(base, off);
            let x = b.ins().load(scalar_ty(dt), flags(), p, 0);
            let acc = b.use_var(total);
            let y = reduce_op(b, r.kind, acc, x);
            b.def_var(total, y);
            end_loop(b, l);
            let dest = &k.accesses[r.dest];
            let dbase = self.buf_base(b, env, dest.buf);
            let t = b.use_var(total);
            let at = b.ins().iadd_imm_s(dbase, dest.offset * es);
            b.ins().store(flags(), t, at, 0);
        }
    }
}
