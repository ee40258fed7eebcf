//! Kernel lowering: the loop nest of one kernel, its inner loop in vector
//! or scalar mode, elementwise segments and the stencil reuse loop.

use super::clif::{fconst, flags, scalar_ty, vec_ty, vecs_per_step};
use super::context::{Ctx, Env, VecStep};
use super::loops::{begin_loop, end_loop, rows_at, Rows};
use super::math::kernel_inlines_math;
use super::reduce::{fold_into, identity, store_slots};
use crate::kernel_ir::{Access, BufId, KExpr, Kernel};
use crate::stencil::{self, Reuse};
use adjoint_ir::{DType, Result, REDUCE_SUM_BLOCK};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::I64;
use cranelift_codegen::ir::{InstBuilder, Value};
use cranelift_frontend::{FunctionBuilder, Variable};
use std::collections::HashMap;

/// Vector loops (and reduction blocks) at least this long run eight
/// elements a step before the four-element steps (four `f64x2` or two
/// `f32x4` vectors, their instructions interleaved): more independent work
/// in flight for the out-of-order core (7-9% on the Rosenbrock gradient
/// and value; sixteen a step was slower), at the cost of a larger loop
/// body, which short loops (and compile time) do not pay.
pub(super) const WIDE_MIN_ELEMS: usize = 1024;

impl Ctx<'_> {
    /// Whether the kernel's inner loop can run four elements a step in SIMD.
    pub(super) fn vector_mode(&self, k: &Kernel) -> Option<DType> {
        if !self.opts.simd || k.inner.len() != 1 {
            return None;
        }
        // Host calls run lane by lane: a loop dominated by them gains
        // nothing from vectors and only grows its code.
        let host_calls = k.exprs.iter().filter(|e| self.is_host_call(e)).count();
        if host_calls * 4 > k.exprs.len() {
            return None;
        }
        let mut dt: Option<DType> = None;
        let mut same = |d: DType| match dt {
            None => {
                dt = Some(d);
                true
            }
            Some(x) => x == d,
        };
        for a in &k.accesses {
            if a.dtype == DType::Bool || !same(a.dtype) {
                return None;
            }
        }
        for (i, e) in k.exprs.iter().enumerate() {
            match e {
                KExpr::Cast(..) => return None,
                KExpr::Compare(_, a, _) => {
                    if !same(k.tys[*a]) {
                        return None;
                    }
                }
                KExpr::Const(_) | KExpr::Select(..) if k.tys[i] == DType::Bool => return None,
                _ => {
                    if k.tys[i] != DType::Bool && !same(k.tys[i]) {
                        return None;
                    }
                }
            }
        }
        for &(_, a) in &k.stores {
            if k.accesses[a].inner[0] != 1 {
                return None;
            }
        }
        // Reductions keep their partial-sum order: padded operands along the
        // reduced loop are read with per-element tests instead.
        if !k.reductions.is_empty() && k.accesses.iter().any(Access::inner_restricted) {
            return None;
        }
        for e in &k.exprs {
            if let KExpr::Load(a) = e {
                if !matches!(k.accesses[*a].inner[0], 0 | 1) {
                    return None;
                }
            }
        }
        Some(dt.unwrap_or(DType::F64))
    }

    pub(super) fn emit_kernel(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        split: Option<(Value, Value)>,
    ) -> Result<()> {
        let outer_n: usize = k.outer.iter().product();
        if outer_n == 0 || (k.inner_len() == 0 && k.reductions.is_empty()) {
            return Ok(());
        }
        // Polynomials are inlined code: a small loop with very many of them
        // (long chains on tiny tensors) compiles much faster with host calls,
        // and its run time is small either way.
        self.kernel_poly = kernel_inlines_math(self.opts, k);
        let mut bases: HashMap<BufId, Value> = HashMap::new();
        for a in &k.accesses {
            if let std::collections::hash_map::Entry::Vacant(e) = bases.entry(a.buf) {
                e.insert(self.buf_base(b, env, a.buf));
            }
        }
        let mode = self.vector_mode(k);
        if mode.is_none() {
            if let Some(dt) = self.transposed_mode(k) {
                return self.emit_transposed(b, env, k, split, dt, &bases);
            }
        }
        // Outer loops.
        let mut loops = Vec::new();
        let mut ivs = Vec::new();
        for (d, &n) in k.outer.iter().enumerate() {
            let (start, end) = match (d, split) {
                (0, Some((lo, hi))) => (lo, hi),
                _ => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n as i64)),
            };
            let (l, iv) = begin_loop(b, start, end, 1);
            loops.push(l);
            ivs.push(iv);
        }
        let rows = rows_at(b, k, &bases, &ivs);
        let inner_split = if k.outer.is_empty() { split } else { None };
        self.emit_inner(b, env, k, &rows, mode, inner_split)?;
        for l in loops.into_iter().rev() {
            end_loop(b, l);
        }
        Ok(())
    }

    pub(super) fn emit_inner(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        mode: Option<DType>,
        split: Option<(Value, Value)>,
    ) -> Result<()> {
        let n = k.inner_len() as i64;
        // Loads that do not move along the inner loop are read once a row
        // (only when the inner loop runs: an empty loop reads nothing).
        let mut inv: HashMap<usize, Value> = HashMap::new();
        for (i, e) in k.exprs.iter().enumerate().filter(|_| n > 0) {
            if let KExpr::Load(a) = e {
                let acc = &k.accesses[*a];
                if acc.inner.iter().all(|&s| s == 0) && !acc.inner_restricted() {
                    let mut v = b
                        .ins()
                        .load(scalar_ty(acc.dtype), flags(), rows.ptrs[*a], 0);
                    if let Some(f) = rows.flags[*a] {
                        let z = fconst(b, acc.dtype, 0.0);
                        v = b.ins().select(f, v, z);
                    }
                    inv.insert(i, v);
                }
            }
        }
        let (start, end) = match split {
            Some((lo, hi)) => (lo, hi),
            None => (b.ins().iconst(I64, 0), b.ins().iconst(I64, n)),
        };
        if k.reductions.is_empty() {
            let restricted = k.accesses.iter().any(Access::inner_restricted);
            if mode.is_none() || !restricted {
                let known = split.is_none().then_some((0, n));
                self.emit_segment(b, env, k, rows, &inv, mode, start, end, None, known)?;
                return Ok(());
            }
            // Split the inner range where a padded operand starts or stops
            // being valid; inside each piece every access is either always
            // or never valid, so the vector loop needs no tests.
            let mut cuts = vec![0i64, n];
            for a in &k.accesses {
                if let Some((lo, len)) = a.inner_valid[0] {
                    cuts.push(lo.clamp(0, n));
                    cuts.push((lo + len).clamp(0, n));
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
            for w in cuts.windows(2) {
                let (s0, e0) = (w[0], w[1]);
                let seg: Vec<bool> = k
                    .accesses
                    .iter()
                    .map(|a| match a.inner_valid[0] {
                        Some((lo, len)) => lo <= s0 && e0 <= lo + len,
                        None => true,
                    })
                    .collect();
                let s_v = b.ins().iconst(I64, s0);
                let e_v = b.ins().iconst(I64, e0);
                let (s_v, e_v) = match split {
                    Some(_) => (b.ins().smax(s_v, start), b.ins().smin(e_v, end)),
                    None => (s_v, e_v),
                };
                let known = split.is_none().then_some((s0, e0));
                self.emit_segment(b, env, k, rows, &inv, mode, s_v, e_v, Some(&seg), known)?;
            }
            return Ok(());
        }
        // Reductions, in blocks of REDUCE_SUM_BLOCK elements (see
        // `adjoint_ir::REDUCE_SUM_BLOCK`).
        let blk = REDUCE_SUM_BLOCK as i64;
        if n <= blk {
            let sums = self.emit_block(b, env, k, rows, &inv, mode, start, n)?;
            for (r, s) in k.reductions.iter().zip(sums) {
                b.ins().store(flags(), s, rows.ptrs[r.dest], 0);
            }
            return Ok(());
        }
        let last_start = (n - 1) / blk * blk;
        let last_len = n - last_start;
        let ls = b.ins().iconst(I64, last_start);
        match split {
            // The whole range here: fold the block sums as they come.
            None => {
                let totals: Vec<Variable> = k
                    .reductions
                    .iter()
                    .map(|r| {
                        let v = b.declare_var(scalar_ty(k.tys[r.value]));
                        let id = identity(b, r.kind, k.tys[r.value]);
                        b.def_var(v, id);
                        v
                    })
                    .collect();
                let zero = b.ins().iconst(I64, 0);
                let (l, bs) = begin_loop(b, zero, ls, blk);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, bs, blk)?;
                fold_into(b, k, &totals, &sums);
                end_loop(b, l);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, ls, last_len)?;
                fold_into(b, k, &totals, &sums);
                for (r, &t) in k.reductions.iter().zip(&totals) {
                    let t = b.use_var(t);
                    b.ins().store(flags(), t, rows.ptrs[r.dest], 0);
                }
            }
            // A range of whole blocks on one thread: each block's sum goes
            // to its slot of the scratch buffer, which the caller folds.
            Some(_) => {
                let scratch: Vec<Value> = k
                    .reductions
                    .iter()
                    .map(|r| {
                        let buf = r.scratch.expect("split reductions have block scratch");
                        self.buf_base(b, env, buf)
                    })
                    .collect();
                let full_end = b.ins().smin(end, ls);
                let (l, bs) = begin_loop(b, start, full_end, blk);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, bs, blk)?;
                let slot = b.ins().udiv_imm_s(bs, blk);
                store_slots(b, k, &scratch, slot, &sums);
                end_loop(b, l);
                let has_last = b.ins().icmp(IntCC::SignedGreaterThan, end, ls);
                let last = b.create_block();
                let done = b.create_block();
                b.ins().brif(has_last, last, &[], done, &[]);
                b.switch_to_block(last);
                let sums = self.emit_block(b, env, k, rows, &inv, mode, ls, last_len)?;
                let slot = b.ins().iconst(I64, last_start / blk);
                store_slots(b, k, &scratch, slot, &sums);
                b.ins().jump(done, &[]);
                b.switch_to_block(done);
            }
        }
        Ok(())
    }

    /// An elementwise inner loop over `[start, end)`: four elements a step
    /// in vector mode, then a scalar tail. `seg` fixes which accesses are
    /// valid throughout the range (padded operands).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_segment(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        mode: Option<DType>,
        start: Value,
        end: Value,
        seg: Option<&[bool]>,
        known: Option<(i64, i64)>,
    ) -> Result<()> {
        // With a static range, loops that cannot run are not emitted, and a
        // single element is straight-line code.
        let len = known.map(|(s, e)| e - s);
        if let (Some(1), Some((s, _))) = (len, known) {
            let kk = b.ins().iconst(I64, s);
            self.eval_scalar(b, env, k, rows, inv, kk, seg)?;
            return Ok(());
        }
        let kv = b.declare_var(I64);
        b.def_var(kv, start);
        if let Some(dt) = mode.filter(|_| len.is_none_or(|l| l >= 4)) {
            let kk = b.use_var(kv);
            let vinv = self.splat_invariants(b, inv, k, dt);
            let wide = if k.inner_len() >= WIDE_MIN_ELEMS {
                2
            } else {
                1
            };
            let reuse = stencil::analyse(k, seg);
            let single_steps = wide > 1 || reuse.is_none();
            match reuse {
                None if wide > 1 => {
                    let (l, iv) = begin_loop(b, kk, end, 4 * wide as i64);
                    let shape = VecStep::new(dt, wide);
                    self.eval_vector(b, env, k, rows, &vinv, iv, shape, seg, None)?;
                    let lv = l.var;
                    end_loop(b, l);
                    let after = b.use_var(lv);
                    b.def_var(kv, after);
                }
                None => {}
                Some(reuse) => {
                    let after = self.emit_reuse_loop(
                        b, env, k, rows, inv, &vinv, dt, kk, end, seg, &reuse, wide,
                    )?;
                    b.def_var(kv, after);
                }
            }
            // One four-element step at a time (what a wide loop left).
            if single_steps {
                let kk = b.use_var(kv);
                let (l, iv) = begin_loop(b, kk, end, 4);
                self.eval_vector(b, env, k, rows, &vinv, iv, VecStep::new(dt, 1), seg, None)?;
                let lv = l.var;
                end_loop(b, l);
                let after = b.use_var(lv);
                b.def_var(kv, after);
            }
            if len.is_some_and(|l| l % 4 == 0) {
                return Ok(());
            }
        }
        let kk = b.use_var(kv);
        let (l, iv) = begin_loop(b, kk, end, 1);
        self.eval_scalar(b, env, k, rows, inv, iv, seg)?;
        end_loop(b, l);
        Ok(())
    }

    /// The vector loop of an elementwise segment from `start`, `4 * wide`
    /// elements a step, with shifted
    /// expressions assembled from the previous step (see [`crate::stencil`]):
    /// when at least one step runs, the carried vectors are seeded by
    /// evaluating their sharers at the first indices, then each step
    /// carries its vectors to the next. Returns the index after the last
    /// step (`start` when none ran).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_reuse_loop(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        vinv: &HashMap<usize, Value>,
        dt: DType,
        start: Value,
        end: Value,
        seg: Option<&[bool]>,
        reuse: &Reuse,
        wide: usize,
    ) -> Result<Value> {
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt) * wide;
        let step = 4 * wide;
        let lanes = step / vps;
        let iv_var = b.declare_var(I64);
        b.def_var(iv_var, start);
        let last = b.ins().iadd_imm_s(end, -(step as i64));
        let runs = b.ins().icmp(IntCC::SignedLessThanOrEqual, start, last);
        let seed = b.create_block();
        let join = b.create_block();
        b.ins().brif(runs, seed, &[], join, &[]);
        b.switch_to_block(seed);
        let mut carries: Vec<(usize, Vec<Variable>)> = Vec::new();
        for c in &reuse.carried {
            let want = stencil::cone(k, c.seed);
            let mut lane_vals: Vec<Option<Value>> = vec![None; step];
            for t in 0..c.shift {
                let at = b.ins().iadd_imm_s(start, t as i64);
                let vals = self.eval_scalar_exprs(b, env, k, rows, inv, at, seg, Some(&want))?;
                lane_vals[step - c.shift + t] = Some(vals[c.seed]);
            }
            let fill = lane_vals[step - c.shift].expect("seeded lane");
            let vars = (0..vps)
                .map(|v| {
                    let mut x = b.ins().splat(vt, fill);
                    for lane in 0..lanes {
                        if let Some(y) = lane_vals[v * lanes + lane] {
                            x = b.ins().insertlane(x, y, lane as u8);
                        }
                    }
                    let var = b.declare_var(vt);
                    b.def_var(var, x);
                    var
                })
                .collect();
            carries.push((c.src, vars));
        }
        let (l, iv) = begin_loop(b, start, end, step as i64);
        let prev: HashMap<usize, Vec<Value>> = carries
            .iter()
            .map(|(src, vars)| (*src, vars.iter().map(|&v| b.use_var(v)).collect()))
            .collect();
        let shape = VecStep::new(dt, wide);
        let vals = self.eval_vector(b, env, k, rows, vinv, iv, shape, seg, Some((reuse, &prev)))?;
        for (src, vars) in &carries {
            for (&var, &x) in vars.iter().zip(&vals[*src]) {
                b.def_var(var, x);
            }
        }
        let lv = l.var;
        end_loop(b, l);
        let after = b.use_var(lv);
        b.def_var(iv_var, after);
        b.ins().jump(join, &[]);
        b.switch_to_block(join);
        Ok(b.use_var(iv_var))
    }

    pub(super) fn splat_invariants(
        &self,
        b: &mut FunctionBuilder,
        inv: &HashMap<usize, Value>,
        k: &Kernel,
        dt: DType,
    ) -> HashMap<usize, Value> {
        let _ = k;
        inv.iter()
            .map(|(&i, &v)| (i, b.ins().splat(vec_ty(dt), v)))
            .collect()
    }
}
