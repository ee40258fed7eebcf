//! The derivative rules: one VJP rule and one JVP rule per primitive, in one
//! place, each an exhaustive `match` on [`Op`] (a new op does not compile
//! until it has both rules).
//!
//! Every rule emits only differentiable primitives through [`Graph::add`],
//! so the output of `grad` can itself be differentiated. Rules reuse primal
//! values (for example `exp`'s derivative is its own result), and work with
//! symbolic zeros ([`Lin`]).
//!
//! **Batching.** Both rule sets accept a batch prefix: (co)tangents have
//! shape `batch ++ primal shape`, and the rules push all `batch` directions
//! at once (numpy broadcasting lines the primal factors up with the trailing
//! axes). The `grad`/`vjp`/`jvp` passes use an empty batch; the Jacobian
//! pass pushes identity seeds this way. Custom rules (`call`) are written
//! for one direction, so with a nonempty batch a `call` must be inlined
//! first (the transforms do that).
//!
//! **Conventions at non-smooth points** (those of JAX):
//! - `relu'(0) = 0` (`select(x > 0, t, 0)`);
//! - `abs'(0) = 1` (`select(x >= 0, t, -t)`);
//! - `max(a, b)`/`min(a, b)` with `a == b`: each operand gets half the
//!   (co)tangent;
//! - `reduce_max` with ties: the (co)tangent is split equally among the
//!   maximal elements;
//! - `select`: the condition gets no derivative; the branch not taken gets
//!   zero;
//! - comparisons have zero derivative, and `bool` values have no tangent;
//! - `pow(a, b)`: `d/da = 0` where `b == 0` (so `d/da a^0 = 0` even at
//!   `a = 0`), and `d/db = a^b · log a` with `log a` replaced by 0 where
//!   `a == 0`.

use crate::emit::{self, prefixed};
use crate::inline::{first_output, inline_graph};
use crate::lin::Lin;
use adjoint_ir::{
    matmul_shape, BinaryOp, CompareOp, Error, Graph, NodeId, Op, Result, Shape, TensorType, UnaryOp,
};

fn shifted(axes: &[usize], k: usize) -> Vec<usize> {
    axes.iter().map(|a| a + k).collect()
}

fn keepdims(shape: &Shape, axes: &[usize]) -> Shape {
    Shape(
        shape
            .dims()
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect(),
    )
}

fn inverse_perm(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

fn batched_perm(perm: &[usize], k: usize) -> Vec<usize> {
    (0..k).chain(perm.iter().map(|p| p + k)).collect()
}

/// The derivative factor of a unary op at `x` with result `y`, as a primal
/// value `f'(x)`, for the ops whose derivative is a plain product. `None`
/// for the ops whose rule is a `select` (abs, relu) or a negation.
fn unary_factor(g: &mut Graph, u: UnaryOp, x: NodeId, y: NodeId) -> Result<Option<NodeId>> {
    Ok(Some(match u {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu => return Ok(None),
        UnaryOp::Exp => y,
        UnaryOp::Log => {
            // d log x = t / x; expressed as a division by the caller.
            return Ok(None);
        }
        UnaryOp::Sqrt => {
            // 1 / (2 sqrt x), reusing y.
            let two = emit::scale(g, y, 2.0)?;
            let one = emit::lit(g, y, 1.0);
            emit::div(g, one, two)?
        }
        UnaryOp::Sin => emit::un(g, UnaryOp::Cos, x)?,
        UnaryOp::Cos => {
            let s = emit::un(g, UnaryOp::Sin, x)?;
            emit::neg(g, s)?
        }
        UnaryOp::Tanh => {
            // 1 - y^2, reusing y.
            let yy = emit::mul(g, y, y)?;
            emit::rsub(g, 1.0, yy)?
        }
        UnaryOp::Sigmoid => {
            // y (1 - y), reusing y.
            let om = emit::rsub(g, 1.0, y)?;
            emit::mul(g, y, om)?
        }
    }))
}

/// Applies the (self-adjoint, elementwise) derivative of a unary op to a
/// (co)tangent `t`. Unary derivatives are diagonal, so the same code serves
/// the JVP and the VJP.
fn unary_apply(g: &mut Graph, u: UnaryOp, x: NodeId, y: NodeId, t: NodeId) -> Result<NodeId> {
    match u {
        UnaryOp::Neg => emit::neg(g, t),
        UnaryOp::Abs => {
            let c = emit::cmp_lit(g, CompareOp::Ge, x, 0.0)?;
            let nt = emit::neg(g, t)?;
            emit::select(g, c, t, nt)
        }
        UnaryOp::Relu => {
            let c = emit::cmp_lit(g, CompareOp::Gt, x, 0.0)?;
            emit::select_or_zero(g, c, t)
        }
        UnaryOp::Log => emit::div(g, t, x),
        UnaryOp::Exp
        | UnaryOp::Sqrt
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid => {
            let f = unary_factor(g, u, x, y)?.expect("product rule");
            emit::mul(g, t, f)
        }
    }
}

/// JAX's `_balanced_eq(x, z, y)`: 1 where `x == z` and `y != z`, 0.5 where
/// both equal `z`, 0 elsewhere. The weight of operand `x` in the derivative
/// of `z = max(x, y)` (or `min`).
fn balanced_eq(g: &mut Graph, x: NodeId, z: NodeId, y: NodeId) -> Result<NodeId> {
    let xz = emit::cmp(g, CompareOp::Eq, x, z)?;
    let yz = emit::cmp(g, CompareOp::Eq, y, z)?;
    let half = emit::lit(g, x, 0.5);
    let one = emit::lit(g, x, 1.0);
    let zero = emit::lit(g, x, 0.0);
    let inner = emit::select(g, yz, half, one)?;
    emit::select(g, xz, inner, zero)
}

/// The factor `d(a^b)/da`. A constant exponent `c` gives `c·a^(c-1)` with
/// the common cases (`c` = 0, 1, 2) simplified; otherwise
/// `select(b == 0, 0, b·a^(b-1))`.
fn pow_da_factor(g: &mut Graph, a: NodeId, b: NodeId) -> Result<Option<NodeId>> {
    if let Some(c) = emit::splat_const(g, b) {
        return Ok(match c {
            0.0 => None,
            1.0 => Some(emit::lit(g, a, 1.0)),
            2.0 => Some(emit::scale(g, a, 2.0)?),
            c => {
                let cm1 = emit::lit(g, a, c - 1.0);
                let p = emit::bin(g, BinaryOp::Pow, a, cm1)?;
                Some(emit::scale(g, p, c)?)
            }
        });
    }
    let one = emit::lit(g, b, 1.0);
    let bm1 = emit::sub(g, b, one)?;
    let p = emit::bin(g, BinaryOp::Pow, a, bm1)?;
    let f = emit::mul(g, b, p)?;
    let bz = emit::cmp_lit(g, CompareOp::Eq, b, 0.0)?;
    Ok(Some(emit::select_zero_or(g, bz, f)?))
}

/// The factor `d(a^b)/db = a^b · log(a)`, with `log a` taken as 0 where
/// `a == 0` (JAX's convention, so `0^b` has derivative 0 in `b`).
fn pow_db_factor(g: &mut Graph, a: NodeId, y: NodeId) -> Result<NodeId> {
    let az = emit::cmp_lit(g, CompareOp::Eq, a, 0.0)?;
    let one = emit::lit(g, a, 1.0);
    let safe = emit::select(g, az, one, a)?;
    let l = emit::un(g, UnaryOp::Log, safe)?;
    emit::mul(g, y, l)
}

/// The weights of `reduce_max` over `axes` of `x` with result `y`: a mask of
/// the maximal positions divided by their count (ties split equally).
fn reduce_max_weights(g: &mut Graph, x: NodeId, y: NodeId, axes: &[usize]) -> Result<NodeId> {
    let xs = g.ty(x).shape.clone();
    let kd = keepdims(&xs, axes);
    let yk = emit::reshape(g, y, &kd)?;
    let yb = emit::broadcast(g, yk, &xs)?;
    let eq = emit::cmp(g, CompareOp::Eq, x, yb)?;
    let m = emit::cast(g, eq, g.ty(x).dtype)?;
    let cnt = emit::reduce_sum(g, m, axes.to_vec())?;
    let ck = emit::reshape(g, cnt, &kd)?;
    let cb = emit::broadcast(g, ck, &xs)?;
    emit::div(g, m, cb)
}

/// Shapes of numpy matmul with 1-D operands promoted: `(a2, b2, y2)`.
fn matmul_promoted(a: &Shape, b: &Shape) -> Result<(Shape, Shape, Shape)> {
    let a2 = if a.rank() == 1 {
        Shape(vec![1, a.0[0]])
    } else {
        a.clone()
    };
    let b2 = if b.rank() == 1 {
        Shape(vec![b.0[0], 1])
    } else {
        b.clone()
    };
    let y2 = matmul_shape(&a2, &b2).map_err(|m| Error::pass(format!("matmul rule: {m}")))?;
    Ok((a2, b2, y2))
}

fn need_float(g: &Graph, x: NodeId) -> bool {
    g.ty(x).dtype.is_float()
}

/// The VJP of node `n`: given the cotangent `ct` of its result (shape
/// `batch ++ shape(n)`), the cotangent contributed to each operand, in
/// operand order. Operands with `needs[i] == false` (not on a path from a
/// differentiated parameter) get [`Lin::Zero`] and no nodes are emitted for
/// them.
pub fn vjp(
    g: &mut Graph,
    n: NodeId,
    ct: NodeId,
    batch: &[usize],
    needs: &[bool],
) -> Result<Vec<Lin>> {
    let op = g[n].op.clone();
    let xs = g.operands(n);
    let k = batch.len();
    let needv: Vec<bool> = (0..xs.len())
        .map(|i| needs.get(i).copied().unwrap_or(false) && need_float(g, xs[i]))
        .collect();
    let need = |i: usize| needv[i];
    let out: Vec<Lin> = match &op {
        Op::Param { .. } | Op::Const(_) | Op::Iota { .. } => vec![],
        Op::Logical(_) => vec![Lin::Zero; xs.len()],
        Op::Scan { .. } | Op::While { .. } | Op::Revolve { .. } | Op::Cond { .. } | Op::Project { .. } => {
            return Err(Error::pass(format!(
                "internal: {} reached the single-result VJP rules (backpropagate handles it through loop_vjp)",
                op.name()
            )))
        }
        Op::Unary(u) => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            vec![Lin::Val(unary_apply(g, *u, xs[0], n, ct)?)]
        }
        Op::Binary(b) => {
            let (a, bb) = (xs[0], xs[1]);
            let (na, nb) = (need(0), need(1));
            let mut da = Lin::Zero;
            let mut db = Lin::Zero;
            match b {
                BinaryOp::Add => {
                    if na {
                        da = Lin::Val(ct);
                    }
                    if nb {
                        db = Lin::Val(ct);
                    }
                }
                BinaryOp::Sub => {
                    if na {
                        da = Lin::Val(ct);
                    }
                    if nb {
                        db = Lin::Val(emit::neg(g, ct)?);
                    }
                }
                BinaryOp::Mul => {
                    if na {
                        da = Lin::Val(emit::mul(g, ct, bb)?);
                    }
                    if nb {
                        db = Lin::Val(emit::mul(g, ct, a)?);
                    }
                }
                BinaryOp::Div => {
                    if na {
                        da = Lin::Val(emit::div(g, ct, bb)?);
                    }
                    if nb {
                        // -ct * y / b, reusing y = a / b.
                        let cy = emit::mul(g, ct, n)?;
                        let q = emit::div(g, cy, bb)?;
                        db = Lin::Val(emit::neg(g, q)?);
                    }
                }
                BinaryOp::Pow => {
                    if na {
                        if let Some(f) = pow_da_factor(g, a, bb)? {
                            da = Lin::Val(emit::mul(g, ct, f)?);
                        }
                    }
                    if nb {
                        let f = pow_db_factor(g, a, n)?;
                        db = Lin::Val(emit::mul(g, ct, f)?);
                    }
                }
                BinaryOp::Max | BinaryOp::Min => {
                    if na {
                        let w = balanced_eq(g, a, n, bb)?;
                        da = Lin::Val(emit::mul(g, ct, w)?);
                    }
                    if nb {
                        let w = balanced_eq(g, bb, n, a)?;
                        db = Lin::Val(emit::mul(g, ct, w)?);
                    }
                }
            }
            vec![da, db]
        }
        Op::Compare(_) => vec![Lin::Zero, Lin::Zero],
        Op::Select => {
            let c = xs[0];
            let mut r = vec![Lin::Zero, Lin::Zero, Lin::Zero];
            if need(1) {
                r[1] = Lin::Val(emit::select_or_zero(g, c, ct)?);
            }
            if need(2) {
                r[2] = Lin::Val(emit::select_zero_or(g, c, ct)?);
            }
            r
        }
        Op::Broadcast { .. } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let target = g.ty(xs[0]).shape.clone();
            vec![Lin::Val(emit::sum_to(g, ct, k, &target)?)]
        }
        Op::Reshape { .. } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let s = prefixed(batch, &g.ty(xs[0]).shape);
            vec![Lin::Val(emit::reshape(g, ct, &s)?)]
        }
        Op::Transpose { perm } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let p = batched_perm(&inverse_perm(perm), k);
            vec![Lin::Val(emit::transpose(g, ct, p)?)]
        }
        Op::Slice { start, stride, .. } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            vec![slice_adjoint(g, ct, xs[0], start, stride, batch)?]
        }
        Op::Pad { lo, .. } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let d = g.ty(xs[0]).shape.clone();
            let mut start = vec![0; k];
            start.extend_from_slice(lo);
            let mut end = batch.to_vec();
            end.extend(lo.iter().zip(d.dims()).map(|(l, d)| l + d));
            let stride = vec![1; start.len()];
            vec![Lin::Val(g.add(Op::Slice { start, end, stride }, &[ct])?)]
        }
        Op::Concat { axis } => {
            let cs = g.ty(ct).shape.clone();
            let mut off = 0;
            let mut r = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                let len = g.ty(x).shape.0[*axis];
                if need(i) {
                    let mut start = vec![0; cs.rank()];
                    let mut end = cs.0.clone();
                    start[axis + k] = off;
                    end[axis + k] = off + len;
                    let stride = vec![1; cs.rank()];
                    r.push(Lin::Val(g.add(Op::Slice { start, end, stride }, &[ct])?));
                } else {
                    r.push(Lin::Zero);
                }
                off += len;
            }
            r
        }
        Op::ReduceSum { axes } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let xsh = g.ty(xs[0]).shape.clone();
            let kd = prefixed(batch, &keepdims(&xsh, axes));
            let r = emit::reshape(g, ct, &kd)?;
            vec![Lin::Val(emit::broadcast(g, r, &prefixed(batch, &xsh))?)]
        }
        Op::ReduceMax { axes } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let xsh = g.ty(xs[0]).shape.clone();
            let w = reduce_max_weights(g, xs[0], n, axes)?;
            let kd = prefixed(batch, &keepdims(&xsh, axes));
            let r = emit::reshape(g, ct, &kd)?;
            let b = emit::broadcast(g, r, &prefixed(batch, &xsh))?;
            vec![Lin::Val(emit::mul(g, b, w)?)]
        }
        Op::MatMul => {
            let (a, b) = (xs[0], xs[1]);
            let (ash, bsh) = (g.ty(a).shape.clone(), g.ty(b).shape.clone());
            let (a2s, b2s, y2s) = matmul_promoted(&ash, &bsh)?;
            let ct2 = emit::reshape(g, ct, &prefixed(batch, &y2s))?;
            let mut r = vec![Lin::Zero, Lin::Zero];
            if need(0) {
                let b2 = emit::reshape(g, b, &b2s)?;
                let bt = emit::transpose_last2(g, b2)?;
                let d = g.add(Op::MatMul, &[ct2, bt])?;
                let d = emit::sum_to(g, d, k, &a2s)?;
                r[0] = Lin::Val(emit::reshape(g, d, &prefixed(batch, &ash))?);
            }
            if need(1) {
                let a2 = emit::reshape(g, a, &a2s)?;
                let at = emit::transpose_last2(g, a2)?;
                let d = g.add(Op::MatMul, &[at, ct2])?;
                let d = emit::sum_to(g, d, k, &b2s)?;
                r[1] = Lin::Val(emit::reshape(g, d, &prefixed(batch, &bsh))?);
            }
            r
        }
        Op::Cast { .. } => {
            if !need(0) {
                return Ok(vec![Lin::Zero]);
            }
            let dt = g.ty(xs[0]).dtype;
            vec![Lin::Val(emit::cast(g, ct, dt)?)]
        }
        Op::Call(c) => {
            let rule = c.vjp.as_ref().ok_or_else(|| {
                Error::pass(format!(
                    "call @{}: no vjp rule (inline the call to differentiate its body)",
                    c.name
                ))
            })?;
            if k > 0 {
                return Err(Error::pass(format!(
                    "call @{}: custom rules are not batched (inline the call first)",
                    c.name
                )));
            }
            let mut args = xs.clone();
            args.push(n);
            args.push(ct);
            let outs = inline_graph(g, rule, &args)?;
            if outs.len() != xs.len() {
                return Err(Error::pass(format!(
                    "custom @{}: the vjp rule must return {} cotangents, it returns {}",
                    c.name,
                    xs.len(),
                    outs.len()
                )));
            }
            outs.into_iter()
                .enumerate()
                .map(|(i, o)| if need(i) { Lin::Val(o) } else { Lin::Zero })
                .collect()
        }
    };
    Ok(out)
}

/// The exact adjoint of a strided slice: scatters `ct` into zeros at the
/// sliced positions. Along an axis with stride `s > 1` the cotangent is
/// dilated (reshape to `[.., n, 1, ..]`, pad the new axis to `s`, reshape to
/// `[.., n·s, ..]`, slice off the trailing `s - 1` zeros), then one `pad`
/// places the result at `start`.
fn slice_adjoint(
    g: &mut Graph,
    ct: NodeId,
    x: NodeId,
    start: &[usize],
    stride: &[usize],
    batch: &[usize],
) -> Result<Lin> {
    let k = batch.len();
    let d = g.ty(x).shape.clone();
    let mut cur = ct;
    let out = g.ty(ct).shape.clone();
    if out.numel() == 0 {
        return Ok(Lin::Zero);
    }
    let mut lens = Vec::with_capacity(d.rank());
    for (i, &s) in stride.iter().enumerate() {
        let n = out.0[k + i];
        if s > 1 && n > 1 {
            let cs = g.ty(cur).shape.clone();
            let ax = k + i;
            let mut r1 = cs.0.clone();
            r1.insert(ax + 1, 1);
            let c1 = emit::reshape(g, cur, &Shape(r1.clone()))?;
            let mut hi = vec![0; r1.len()];
            hi[ax + 1] = s - 1;
            let lo = vec![0; r1.len()];
            let c2 = g.add(Op::Pad { lo, hi }, &[c1])?;
            let mut r3 = cs.0.clone();
            r3[ax] = n * s;
            let c3 = emit::reshape(g, c2, &Shape(r3.clone()))?;
            let st = vec![0; r3.len()];
            let mut en = r3.clone();
            en[ax] = (n - 1) * s + 1;
            let sd = vec![1; r3.len()];
            cur = g.add(
                Op::Slice {
                    start: st,
                    end: en,
                    stride: sd,
                },
                &[c3],
            )?;
            lens.push((n - 1) * s + 1);
        } else {
            lens.push(n);
        }
    }
    let mut lo = vec![0; k];
    let mut hi = vec![0; k];
    for i in 0..d.rank() {
        lo.push(start[i]);
        hi.push(d.0[i] - start[i] - lens[i]);
    }
    if lo.iter().chain(&hi).all(|&p| p == 0) {
        return Ok(Lin::Val(cur));
    }
    Ok(Lin::Val(g.add(Op::Pad { lo, hi }, &[cur])?))
}

/// The JVP of node `n`: given the tangents of its operands (shape
/// `batch ++ operand shape`, or [`Lin::Zero`]), the tangent of its result.
/// Returns [`Lin::Zero`] when every operand tangent is zero, and for results
/// without tangents (`bool`).
pub fn jvp(g: &mut Graph, n: NodeId, ts: &[Lin], batch: &[usize]) -> Result<Lin> {
    let op = g[n].op.clone();
    let xs = g.operands(n);
    let k = batch.len();
    if ts.iter().all(|t| t.is_zero()) || !g.ty(n).dtype.is_float() {
        return Ok(Lin::Zero);
    }
    let bshape = |g: &Graph, x: NodeId| prefixed(batch, &g.ty(x).shape);
    Ok(match &op {
        Op::Param { .. } | Op::Const(_) | Op::Iota { .. } | Op::Logical(_) => Lin::Zero,
        Op::Scan { .. }
        | Op::While { .. }
        | Op::Revolve { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => {
            // A multi-result node has one tangent per result: push_forward
            // differentiates it with loop_jvp::jvp_multi and its
            // projections read the results' tangents.
            return Err(Error::pass(format!(
                "{}: the tangents of a multi-result op come from loop_jvp::jvp_multi (through push_forward), not from the one-result rule",
                op.name()
            )));
        }
        Op::Unary(u) => {
            let (x, t) = (xs[0], ts[0]);
            t.map(|t| unary_apply(g, *u, x, n, t))?
        }
        Op::Binary(b) => {
            let (a, bb) = (xs[0], xs[1]);
            let (ta, tb) = (ts[0], ts[1]);
            match b {
                BinaryOp::Add => ta.add(g, tb)?,
                BinaryOp::Sub => {
                    let ntb = tb.map(|t| emit::neg(g, t))?;
                    ta.add(g, ntb)?
                }
                BinaryOp::Mul => {
                    let l = ta.map(|t| emit::mul(g, t, bb))?;
                    let r = tb.map(|t| emit::mul(g, a, t))?;
                    l.add(g, r)?
                }
                BinaryOp::Div => {
                    // (ta - y tb) / b
                    let ytb = tb.map(|t| emit::mul(g, n, t))?;
                    let num = match (ta, ytb) {
                        (Lin::Zero, Lin::Val(v)) => Lin::Val(emit::neg(g, v)?),
                        (Lin::Val(a), Lin::Zero) => Lin::Val(a),
                        (Lin::Val(a), Lin::Val(v)) => Lin::Val(emit::sub(g, a, v)?),
                        (Lin::Zero, Lin::Zero) => Lin::Zero,
                    };
                    num.map(|t| emit::div(g, t, bb))?
                }
                BinaryOp::Pow => {
                    let l = match ta {
                        Lin::Zero => Lin::Zero,
                        Lin::Val(t) => match pow_da_factor(g, a, bb)? {
                            None => Lin::Zero,
                            Some(f) => Lin::Val(emit::mul(g, t, f)?),
                        },
                    };
                    let r = match tb {
                        Lin::Zero => Lin::Zero,
                        Lin::Val(t) => {
                            let f = pow_db_factor(g, a, n)?;
                            Lin::Val(emit::mul(g, t, f)?)
                        }
                    };
                    l.add(g, r)?
                }
                BinaryOp::Max | BinaryOp::Min => {
                    let l = match ta {
                        Lin::Zero => Lin::Zero,
                        Lin::Val(t) => {
                            let w = balanced_eq(g, a, n, bb)?;
                            Lin::Val(emit::mul(g, t, w)?)
                        }
                    };
                    let r = match tb {
                        Lin::Zero => Lin::Zero,
                        Lin::Val(t) => {
                            let w = balanced_eq(g, bb, n, a)?;
                            Lin::Val(emit::mul(g, t, w)?)
                        }
                    };
                    l.add(g, r)?
                }
            }
        }
        Op::Compare(_) => Lin::Zero,
        Op::Select => {
            let c = xs[0];
            match (ts[1], ts[2]) {
                (Lin::Zero, Lin::Zero) => Lin::Zero,
                (Lin::Val(a), Lin::Zero) => Lin::Val(emit::select_or_zero(g, c, a)?),
                (Lin::Zero, Lin::Val(b)) => Lin::Val(emit::select_zero_or(g, c, b)?),
                (Lin::Val(a), Lin::Val(b)) => Lin::Val(emit::select(g, c, a, b)?),
            }
        }
        Op::Broadcast { shape } => {
            let t = ts[0];
            t.map(|t| {
                let e = emit::expand_rank(g, t, k, shape.rank())?;
                emit::broadcast(g, e, &prefixed(batch, shape))
            })?
        }
        Op::Reshape { shape } => ts[0].map(|t| emit::reshape(g, t, &prefixed(batch, shape)))?,
        Op::Transpose { perm } => ts[0].map(|t| emit::transpose(g, t, batched_perm(perm, k)))?,
        Op::Slice { start, end, stride } => ts[0].map(|t| {
            let mut s = vec![0; k];
            s.extend_from_slice(start);
            let mut e = batch.to_vec();
            e.extend_from_slice(end);
            let mut st = vec![1; k];
            st.extend_from_slice(stride);
            g.add(
                Op::Slice {
                    start: s,
                    end: e,
                    stride: st,
                },
                &[t],
            )
        })?,
        Op::Pad { lo, hi } => ts[0].map(|t| {
            let mut l = vec![0; k];
            l.extend_from_slice(lo);
            let mut h = vec![0; k];
            h.extend_from_slice(hi);
            g.add(Op::Pad { lo: l, hi: h }, &[t])
        })?,
        Op::Concat { axis } => {
            let mut parts = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                // A zero part becomes zeros of the batched operand type.
                let ty = TensorType::new(g.ty(x).dtype, bshape(g, x));
                parts.push(ts[i].materialize(g, &ty)?);
            }
            Lin::Val(g.add(Op::Concat { axis: axis + k }, &parts)?)
        }
        Op::ReduceSum { axes } => ts[0].map(|t| emit::reduce_sum(g, t, shifted(axes, k)))?,
        Op::ReduceMax { axes } => {
            let (x, t) = (xs[0], ts[0]);
            match t {
                Lin::Zero => Lin::Zero,
                Lin::Val(t) => {
                    let w = reduce_max_weights(g, x, n, axes)?;
                    let m = emit::mul(g, t, w)?;
                    Lin::Val(emit::reduce_sum(g, m, shifted(axes, k))?)
                }
            }
        }
        Op::MatMul => {
            let (a, b) = (xs[0], xs[1]);
            let (ash, bsh) = (g.ty(a).shape.clone(), g.ty(b).shape.clone());
            let (a2s, b2s, y2s) = matmul_promoted(&ash, &bsh)?;
            let r = y2s.rank();
            let l = match ts[0] {
                Lin::Zero => Lin::Zero,
                Lin::Val(t) => {
                    let t2 = emit::reshape(g, t, &prefixed(batch, &a2s))?;
                    let t2 = emit::expand_rank(g, t2, k, r)?;
                    let b2 = emit::reshape(g, b, &b2s)?;
                    Lin::Val(g.add(Op::MatMul, &[t2, b2])?)
                }
            };
            let rr = match ts[1] {
                Lin::Zero => Lin::Zero,
                Lin::Val(t) => {
                    let t2 = emit::reshape(g, t, &prefixed(batch, &b2s))?;
                    let t2 = emit::expand_rank(g, t2, k, r)?;
                    let a2 = emit::reshape(g, a, &a2s)?;
                    Lin::Val(g.add(Op::MatMul, &[a2, t2])?)
                }
            };
            let s = l.add(g, rr)?;
            let ysh = prefixed(batch, &g.ty(n).shape);
            s.map(|v| emit::reshape(g, v, &ysh))?
        }
        Op::Cast { to } => {
            if !g.ty(xs[0]).dtype.is_float() {
                Lin::Zero
            } else {
                ts[0].map(|t| emit::cast(g, t, *to))?
            }
        }
        Op::Call(c) => {
            let rule = c.jvp.as_ref().ok_or_else(|| {
                Error::pass(format!(
                    "call @{}: no jvp rule (inline the call to differentiate its body)",
                    c.name
                ))
            })?;
            if k > 0 {
                return Err(Error::pass(format!(
                    "call @{}: custom rules are not batched (inline the call first)",
                    c.name
                )));
            }
            let mut args = xs.clone();
            args.push(n);
            for (i, &x) in xs.iter().enumerate() {
                let ty = g.ty(x).clone();
                args.push(ts[i].materialize(g, &ty)?);
            }
            let outs = inline_graph(g, rule, &args)?;
            Lin::Val(first_output(&c.name, "jvp rule", outs)?)
        }
    })
}
