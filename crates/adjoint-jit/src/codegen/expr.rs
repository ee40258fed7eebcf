//! Expression evaluation: a kernel's expressions at one inner index
//! (scalar) or one vector step, with the kernel's stores.

use super::clif::{cast, fconst, flags, float_cc, mask_ty, scalar_ty, vec_ty, vecs_per_step};
use super::context::{Ctx, Env, VecStep};
use super::loops::Rows;
use crate::kernel_ir::{KExpr, Kernel};
use crate::ports;
use crate::stencil::{self, Reuse};
use adjoint_ir::{DType, Error, Result, UnaryOp};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value};
use cranelift_codegen::packed_option::ReservedValue;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;

impl Ctx<'_> {
    /// Evaluates every expression at inner index `kidx`, emitting the
    /// stores; returns the scalar value of each expression.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_scalar(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        seg: Option<&[bool]>,
    ) -> Result<Vec<Value>> {
        let v = self.eval_scalar_exprs(b, env, k, rows, inv, kidx, seg, None)?;
        for &(val, a) in &k.stores {
            let acc = &k.accesses[a];
            let (p, _) = self.elem_addr(b, k, rows.ptrs[a], acc, kidx, false);
            b.ins().store(flags(), v[val], p, 0);
        }
        Ok(v)
    }

    /// Evaluates the expressions at inner index `kidx`, without stores;
    /// with `want`, only the wanted ones (the others get a placeholder
    /// that must not be used).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_scalar_exprs(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        seg: Option<&[bool]>,
        want: Option<&[bool]>,
    ) -> Result<Vec<Value>> {
        let mut v: Vec<Value> = Vec::with_capacity(k.exprs.len());
        for (i, e) in k.exprs.iter().enumerate() {
            let dt = k.tys[i];
            if want.is_some_and(|w| !w[i]) {
                v.push(Value::reserved_value());
                continue;
            }
            let x = match e {
                KExpr::Load(a) => match inv.get(&i) {
                    Some(&x) => x,
                    None if seg.is_some_and(|s| !s[*a]) => fconst(b, dt, 0.0),
                    None => {
                        let acc = &k.accesses[*a];
                        let (p, f) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, seg.is_none());
                        let mut x = b.ins().load(scalar_ty(acc.dtype), flags(), p, 0);
                        for f in [f, rows.flags[*a]].into_iter().flatten() {
                            let z = fconst(b, dt, 0.0);
                            x = b.ins().select(f, x, z);
                        }
                        x
                    }
                },
                KExpr::Const(c) => fconst(b, dt, *c),
                KExpr::Unary(u, x) => self.unary(b, env, *u, dt, false, v[*x]),
                KExpr::Binary(op, x, y) => self.binary(b, env, *op, dt, false, v[*x], v[*y]),
                KExpr::Compare(c, x, y) => b.ins().fcmp(float_cc(*c), v[*x], v[*y]),
                KExpr::Select(c, x, y) => b.ins().select(v[*c], v[*x], v[*y]),
                KExpr::Cast(from, x) => cast(b, *from, dt, v[*x]),
                KExpr::Masked(x, a) => match seg {
                    Some(s) if !s[*a] => fconst(b, dt, 0.0),
                    _ => {
                        let acc = &k.accesses[*a];
                        let (_, f) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, seg.is_none());
                        let mut x = v[*x];
                        for f in [f, rows.flags[*a]].into_iter().flatten() {
                            let z = fconst(b, dt, 0.0);
                            x = b.ins().select(f, x, z);
                        }
                        x
                    }
                },
            };
            v.push(x);
        }
        Ok(v)
    }

    /// Evaluates every expression on the four elements starting at `kidx`,
    /// emitting the stores; returns the vectors of each expression.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_vector(
        &mut self,
        b: &mut FunctionBuilder,
        env: &mut Env,
        k: &Kernel,
        rows: &Rows,
        inv: &HashMap<usize, Value>,
        kidx: Value,
        shape: VecStep,
        seg: Option<&[bool]>,
        reuse: Option<(&Reuse, &HashMap<usize, Vec<Value>>)>,
    ) -> Result<Vec<Vec<Value>>> {
        let dt = shape.dt;
        let vt = vec_ty(dt);
        let vps = vecs_per_step(dt) * shape.wide;
        let mut v: Vec<Vec<Value>> = Vec::with_capacity(k.exprs.len());
        for (i, e) in k.exprs.iter().enumerate() {
            if let Some((r, prev)) = reuse {
                if !r.needed[i] {
                    v.push(Vec::new());
                    continue;
                }
                if let Some(s) = r.shares[i] {
                    let lanes = 16 / dt.size_bytes();
                    let x = stencil::window(b, &prev[&s.src], &v[s.src], s.shift, lanes);
                    v.push(x);
                    continue;
                }
            }
            let x: Vec<Value> = match e {
                KExpr::Load(a) => match inv.get(&i) {
                    Some(&x) => vec![x; vps],
                    None if seg.is_some_and(|s| !s[*a]) => {
                        let z = fconst(b, dt, 0.0);
                        vec![b.ins().splat(vt, z); vps]
                    }
                    None => {
                        let acc = &k.accesses[*a];
                        let (p, _) = self.elem_addr(b, k, rows.ptrs[*a], acc, kidx, false);
                        let lane_stride = if shape.lane_outer {
                            acc.outer.last().copied().unwrap_or(0)
                        } else {
                            acc.inner[0]
                        };
                        let mut xs: Vec<Value> = if lane_stride == 0 {
                            let x = b.ins().load(scalar_ty(acc.dtype), flags(), p, 0);
                            vec![b.ins().splat(vt, x); vps]
                        } else {
                            (0..vps)
                                .map(|j| b.ins().load(vt, flags(), p, (16 * j) as i32))
                                .collect()
                        };
                        if let Some(f) = rows.flags[*a] {
                            let z = fconst(b, dt, 0.0);
                            let z = b.ins().splat(vt, z);
                            for x in &mut xs {
                                *x = b.ins().select(f, *x, z);
                            }
                        }
                        xs
                    }
                },
                KExpr::Const(c) => {
                    let s = fconst(b, dt, *c);
                    let sp = b.ins().splat(vt, s);
                    vec![sp; vps]
                }
                KExpr::Unary(UnaryOp::Neg, x) if dt != DType::Bool => v[*x]
                    .iter()
                    .map(|&xj| ports::negate(b, vt, dt, xj))
                    .collect(),
                KExpr::Unary(u, x) => {
                    let xs = v[*x].clone();
                    let mut out = Vec::with_capacity(vps);
                    for xj in xs {
                        out.push(self.unary(b, env, *u, dt, true, xj));
                    }
                    out
                }
                KExpr::Binary(op, x, y) => (0..vps)
                    .map(|j| self.binary(b, env, *op, dt, true, v[*x][j], v[*y][j]))
                    .collect(),
                KExpr::Compare(c, x, y) => (0..vps)
                    .map(|j| b.ins().fcmp(float_cc(*c), v[*x][j], v[*y][j]))
                    .collect(),
                KExpr::Select(c, x, y) => (0..vps)
                    .map(|j| {
                        let m = b.ins().bitcast(vt, MemFlagsData::new(), v[*c][j]);
                        b.ins().bitselect(m, v[*x][j], v[*y][j])
                    })
                    .collect(),
                KExpr::Cast(..) => {
                    return Err(Error::jit("internal: cast in a vector loop"));
                }
                KExpr::Masked(x, a) => {
                    if seg.is_some_and(|s| !s[*a]) {
                        let z = fconst(b, dt, 0.0);
                        vec![b.ins().splat(vt, z); vps]
                    } else {
                        let mut xs = v[*x].clone();
                        if let Some(f) = rows.flags[*a] {
                            let z = fconst(b, dt, 0.0);
                            let z = b.ins().splat(vt, z);
                            for x in &mut xs {
                                *x = b.ins().select(f, *x, z);
                            }
                        }
                        xs
                    }
                }
            };
            v.push(x);
        }
        let _ = mask_ty(dt);
        for &(val, a) in &k.stores {
            let acc = &k.accesses[a];
            let (p, _) = self.elem_addr(b, k, rows.ptrs[a], acc, kidx, false);
            for (j, &x) in v[val].iter().enumerate() {
                b.ins().store(flags(), x, p, (16 * j) as i32);
            }
        }
        Ok(v)
    }
}
