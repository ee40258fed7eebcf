//! Reductions: blocks of `REDUCE_SUM_BLOCK` elements with four partial
//! sums, and the transposed mode (vector lanes along the last outer loop).

use super::clif::{fconst, flags, scalar_ty, vec_ty, vecs_per_step};
use super::context::{Ctx, Env, VecStep};
use super::kernel::WIDE_MIN_ELEMS;
use super::loops::{begin_loop, end_loop, rows_at, Rows};
use crate::kernel_ir::{BufId, KExpr, Kernel, ReduceKind};
use adjoint_ir::{DType, Result, REDUCE_SUM_BLOCK};
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use std::collections::HashMap;

pub(super) fn reduce_op(b: &mut FunctionBuilder, kind: ReduceKind, acc: Value, x: Value) -> Value {
    match kind {
        ReduceKind::Sum => b.ins().fadd(acc, x),
        ReduceKind::Max => b.ins().fmax(acc, x),
    }
}

/// The identity of a reduction's block fold: `-0.0` for sums (`-0 + x` is
/// `x` for every `x`, signed zeros included), `-inf` for maxima.
pub(super) fn identity(b: &mut FunctionBuilder, kind: ReduceKind, dt: DType) -> Value {
    match kind {
        ReduceKind::Sum => fconst(b, dt, -0.0),
        ReduceKind::Max => fconst(b, dt, f64::NEG_INFINITY),
    }
}

/// `total = total (op) block` for each reduction of `k`.
pub(super) fn fold_into(b: &mut FunctionBuilder, k: &Kernel, totals: &[Variable], sums: &[Value]) {
    for ((r, &t), &s) in k.reductions.iter().zip(totals).zip(sums) {
        let acc = b.use_var(t);
        let y = reduce_op(b, r.kind, acc, s);
        b.def_var(t, y);
    }
}

/// Stores each reduction's block sum at `slot` of its scratch buffer.
pub(super) fn store_slots(
    b: &mut FunctionBuilder,
    k: &Kernel,
    scratch: &[Value],
    slot: Value,
    sums: &[Value],
) {
    for ((r, &base), &s) in k.reductions.iter().zip(scratch).zip(sums) {
        let es = k.tys[r.value].size_bytes() as i64;
        let off = b.ins().imul_imm_s(slot, es);
        let p = b.ins().iadd(base, off);
        b.ins().store(flags(), s, p, 0);
    }
}

impl Ctx<'_> {
    /// Whether a pure reduction over a strided inner loop can run with its
    /// vector lanes along the last outer loop instead (column sums such as
    /// bias gradients): every load walks that loop with stride 0 or 1, every
    /// result is contiguous along it, and the expressions vectorise. Each
    /// lane keeps its own four partial sums per block, so the order is
    /// unchanged.
    pub(super) fn transposed_mode(&self, k: &Kernel) -> Option<DType> {
        if !self.opts.simd
            || k.reductions.is_empty()
            || k.outer.is_empty()
            || k.inner.len() != 1
            || *k.outer.last()? < 4
        {
            return None;
        }
        let restricted = k
            .accesses
            .iter()
            .any(|a| a.inner_restricted() || a.outer_valid.iter().any(Option::is_some));
        if restricted {
            return None;
        }
        for r in &k.reductions {
            if k.accesses[r.dest].outer.last() != Some(&1) {
                return None;
            }
        }
        // Stored elementwise values (a gradient kept beside its column sum)
        // are written a vector at a time along the same lanes.
        for &(_, a) in &k.stores {
            let acc = &k.accesses[a];
            if acc.dtype == DType::Bool || acc.outer.last() != Some(&1) {
                return None;
            }
        }
        let mut dt: Option<DType> = None;
        for (i, e) in k.exprs.iter().enumerate() {
            let t = k.tys[i];
            match e {
                KExpr::Load(a) => {
                    let acc = &k.accesses[*a];
                    if acc.dtype == DType::Bool || !matches!(acc.outer.last(), Some(0 | 1)) {
                        return None;
                    }
                }
                KExpr::Const(_) | KExpr::Unary(..) | KExpr::Binary(..) => {}
                KExpr::Compare(..) | KExpr::Select(..) | KExpr::Cast(..) | KExpr::Masked(..) => {
                    return None
                }
            }
            if self.is_host_call(e) {
                return None;
            }
            if t == DType::Bool || dt.is_some_and(|d| d != t) {
                return None;
            }
            dt = Some(t);
        }
        dt
    }

    /// A reduction kernel (with any elementwise stores) with vector lanes along the last outer loop: four
    /// (or with f64, two pairs of) output elements a step, each with its own
    /// four partial sums per block of the reduced loop, block results folded
    /// in order; the remaining outputs run the scalar path.
    // The accumulators are indexed [reduction][partial][vector]; combining
    // walks the partials at a fixed vector index.
    #[allow(clippy::needless_range_loop)]
    pub(super) fn emit_transposed(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        split: Option<(Value, Value)>,
        dt: DType,
        bases: &HashMap<BufId, Value>,
    ) -> Result<()> {
        let n_out = k.outer.len();
        let mut loops = Vec::new();
        let mut ivs = Vec::new();
        for (d, &n) in k.outer[..n_out - 1].iter().enumerate() {
            let (start, end) = match (d, split) {
                (0, Some((lo, hi))) => (lo, hi),
                _ => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n as i64)),
            };
            let (l, iv) = begin_loop(b, start, end, 1);
            loops.push(l);
            ivs.push(iv);
        }
        let (jstart, jend) = match (n_out, split) {
            (1, Some((lo, hi))) => (lo, hi),
            _ => (
                b.ins().iconst(I64, 0),
                b.ins().iconst(I64, k.outer[n_out - 1] as i64),
            ),
        };
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt);
        let r_len = k.inner_len() as i64;
        let (jl, j) = begin_loop(b, jstart, jend, 4);
        let mut at = ivs.clone();
        at.push(j);
        let rows = rows_at(b, k, bases, &at);
        let none = HashMap::new();
        // acc[reduction][partial][vector], reset at every block.
        let mut inits: Vec<Value> = Vec::new();
        let mut accs: Vec<Vec<Vec<Variable>>> = Vec::new();
        for r in &k.reductions {
            let init = self.init_scalar(b, r.kind, dt);
            let sp = b.ins().splat(vt, init);
            inits.push(sp);
            let per: Vec<Vec<Variable>> = (0..4)
                .map(|_| (0..vps).map(|_| b.declare_var(vt)).collect())
                .collect();
            accs.push(per);
        }
        let shape = VecStep {
            dt,
            wide: 1,
            lane_outer: true,
        };
        let step = |cx: &mut Self,
                    b: &mut FunctionBuilder,
                    env: &mut Env,
                    kidx: Value,
                    p: usize|
         -> Result<()> {
            let vals = cx.eval_vector(b, env, k, &rows, &none, kidx, shape, None, None)?;
            for (ri, r) in k.reductions.iter().enumerate() {
                for (v, &var) in accs[ri][p].iter().enumerate() {
                    let acc = b.use_var(var);
                    let y = reduce_op(b, r.kind, acc, vals[r.value][v]);
                    b.def_var(var, y);
                }
            }
            Ok(())
        };
        // One block [bs, bs + len) of the reduced loop: per reduction and
        // vector, the lanes' block results.
        let block = |cx: &mut Self,
                     b: &mut FunctionBuilder,
                     env: &mut Env,
                     bs: Value,
                     len: i64|
         -> Result<Vec<Vec<Value>>> {
            for (ri, per) in accs.iter().enumerate() {
                for vars in per {
                    for &var in vars {
                        b.def_var(var, inits[ri]);
                    }
                }
            }
            let main_end = b.ins().iadd_imm_s(bs, len - len % 4);
            if len >= 4 {
                let (l, kk) = begin_loop(b, bs, main_end, 4);
                for p in 0..4 {
                    let kp = b.ins().iadd_imm_s(kk, p as i64);
                    step(cx, b, env, kp, p)?;
                }
                end_loop(b, l);
            }
            for p in 0..(len % 4) as usize {
                let kp = b.ins().iadd_imm_s(main_end, p as i64);
                step(cx, b, env, kp, p)?;
            }
            Ok(k.reductions
                .iter()
                .enumerate()
                .map(|(ri, r)| {
                    (0..vps)
                        .map(|v| {
                            let p: Vec<Value> = (0..4).map(|q| b.use_var(accs[ri][q][v])).collect();
                            let a = reduce_op(b, r.kind, p[0], p[1]);
                            let c = reduce_op(b, r.kind, p[2], p[3]);
                            reduce_op(b, r.kind, a, c)
                        })
                        .collect()
                })
                .collect())
        };
        let blk = REDUCE_SUM_BLOCK as i64;
        let zero = b.ins().iconst(I64, 0);
        let results: Vec<Vec<Value>> = if r_len <= blk {
            block(self, b, env, zero, r_len)?
        } else {
            // Several blocks: fold the block results left to right.
            let totals: Vec<Vec<Variable>> = k
                .reductions
                .iter()
                .map(|r| {
                    let id = identity(b, r.kind, dt);
                    let id = b.ins().splat(vt, id);
                    (0..vps)
                        .map(|_| {
                            let v = b.declare_var(vt);
                            b.def_var(v, id);
                            v
                        })
                        .collect()
                })
                .collect();
            let fold = |b: &mut FunctionBuilder, res: &[Vec<Value>]| {
                for ((r, tv), rv) in k.reductions.iter().zip(&totals).zip(res) {
                    for (&t, &x) in tv.iter().zip(rv) {
                        let acc = b.use_var(t);
                        let y = reduce_op(b, r.kind, acc, x);
                        b.def_var(t, y);
                    }
                }
            };
            let last_start = (r_len - 1) / blk * blk;
            let ls = b.ins().iconst(I64, last_start);
            let (l, bs) = begin_loop(b, zero, ls, blk);
            let res = block(self, b, env, bs, blk)?;
            fold(b, &res);
            end_loop(b, l);
            let res = block(self, b, env, ls, r_len - last_start)?;
            fold(b, &res);
            totals
                .iter()
                .map(|tv| tv.iter().map(|&t| b.use_var(t)).collect())
                .collect()
        };
        for (r, res) in k.reductions.iter().zip(&results) {
            for (v, &x) in res.iter().enumerate() {
                b.ins()
                    .store(flags(), x, rows.ptrs[r.dest], (16 * v) as i32);
            }
        }
        let jvar = jl.var;
        end_loop(b, jl);
        // The remaining outputs, one at a time.
        let jt = b.use_var(jvar);
        let (tl, jj) = begin_loop(b, jt, jend, 1);
        let mut at = ivs.clone();
        at.push(jj);
        let rows = rows_at(b, k, bases, &at);
        self.emit_inner(b, env, k, &rows, None, None)?;
        end_loop(b, tl);
        for l in loops.into_iter().rev() {
            end_loop(b, l);
        }
        Ok(())
    }

    /// The reductions of one block `[start, start + len)` of the inner
    /// loop, returned per reduction: element `start + j` goes into partial
    /// `j mod 4`, combined `(p0 + p1) + (p2 + p3)` (the stores of the
    /// kernel happen along the way).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_block(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        mode: Option<DType>,
        start: Value,
        len: i64,
    ) -> Result<Vec<Value>> {
        let mut parts: Vec<[Variable; 4]> = Vec::with_capacity(k.reductions.len());
        let main_end = b.ins().iadd_imm_s(start, len - len % 4);
        if let Some(dt) = mode {
            let vt = vec_ty(dt);
            let vps = vecs_per_step(dt);
            let mut accs: Vec<Vec<Variable>> = Vec::new();
            for r in &k.reductions {
                let init = self.init_scalar(b, r.kind, k.tys[r.value]);
                let sp = b.ins().splat(vt, init);
                let vars = (0..vps)
                    .map(|_| {
                        let v = b.declare_var(vt);
                        b.def_var(v, sp);
                        v
                    })
                    .collect();
                accs.push(vars);
            }
            if len >= 4 {
                let vinv = self.splat_invariants(b, inv, k, dt);
                // Long blocks run eight elements a step first: the second
                // group of four goes into the same partials after the first,
                // which keeps every partial's order.
                let wide = if len >= WIDE_MIN_ELEMS as i64 { 2 } else { 1 };
                let mut from = start;
                for w in (1..=wide).rev() {
                    let group_end = b.ins().iadd_imm_s(start, len - len % (4 * w));
                    let (l, iv) = begin_loop(b, from, group_end, 4 * w);
                    let shape = VecStep::new(dt, w as usize);
                    let vals = self.eval_vector(b, env, k, rows, &vinv, iv, shape, None, None)?;
                    for (r, vars) in k.reductions.iter().zip(&accs) {
                        for (j, x) in vals[r.value].iter().enumerate() {
                            let var = vars[j % vps];
                            let acc = b.use_var(var);
                            let y = reduce_op(b, r.kind, acc, *x);
                            b.def_var(var, y);
                        }
                    }
                    let lv = l.var;
                    end_loop(b, l);
                    from = b.use_var(lv);
                }
            }
            for vars in &accs {
                let lanes = 4 / vps;
                let mut ps = Vec::new();
                for &var in vars {
                    let acc = b.use_var(var);
                    for lane in 0..lanes {
                        ps.push(b.ins().extractlane(acc, lane as u8));
                    }
                }
                let st = scalar_ty(dt);
                let pv: [Variable; 4] = std::array::from_fn(|j| {
                    let v = b.declare_var(st);
                    b.def_var(v, ps[j]);
                    v
                });
                parts.push(pv);
            }
        } else {
            for r in &k.reductions {
                let dt = k.tys[r.value];
                let pv: [Variable; 4] = std::array::from_fn(|_| {
                    let init = self.init_scalar(b, r.kind, dt);
                    let v = b.declare_var(scalar_ty(dt));
                    b.def_var(v, init);
                    v
                });
                parts.push(pv);
            }
            if len >= 4 {
                let (l, iv) = begin_loop(b, start, main_end, 4);
                for j in 0..4 {
                    let kj = b.ins().iadd_imm_s(iv, j);
                    let vals = self.eval_scalar(b, env, k, rows, inv, kj, None)?;
                    for (r, pv) in k.reductions.iter().zip(&parts) {
                        let acc = b.use_var(pv[j as usize]);
                        let y = reduce_op(b, r.kind, acc, vals[r.value]);
                        b.def_var(pv[j as usize], y);
                    }
                }
                end_loop(b, l);
            }
        }
        // Static tail: element start + len - len%4 + j goes into partial j.
        for j in 0..(len % 4) {
            let kj = b.ins().iadd_imm_s(main_end, j);
            let vals = self.eval_scalar(b, env, k, rows, inv, kj, None)?;
            for (r, pv) in k.reductions.iter().zip(&parts) {
                let acc = b.use_var(pv[j as usize]);
                let y = reduce_op(b, r.kind, acc, vals[r.value]);
                b.def_var(pv[j as usize], y);
            }
        }
        Ok(k.reductions
            .iter()
            .zip(&parts)
            .map(|(r, pv)| {
                let p: Vec<Value> = pv.iter().map(|&v| b.use_var(v)).collect();
                let a = reduce_op(b, r.kind, p[0], p[1]);
                let c = reduce_op(b, r.kind, p[2], p[3]);
                reduce_op(b, r.kind, a, c)
            })
            .collect())
    }

    pub(super) fn init_scalar(
        &self,
        b: &mut FunctionBuilder,
        kind: ReduceKind,
        dt: DType,
    ) -> Value {
        let x = match kind {
            ReduceKind::Sum => 0.0,
            ReduceKind::Max => f64::NEG_INFINITY,
        };
        fconst(b, dt, x)
    }
}
