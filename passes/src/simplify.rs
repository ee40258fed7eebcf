//! Algebraic simplification: local rewrites that AD output needs, applied
//! to a fixed point. Each rewrite is exact in IEEE arithmetic, with one
//! documented exception: `x + 0 → x` ignores the sign of zero (for
//! `x = -0.0` the original gives `+0.0`), as compilers do under `nsz`.
//! `x * 0` is **not** rewritten to zeros (`inf * 0` and `NaN * 0` are NaN);
//! AD avoids materialising such products through symbolic zeros instead.
//!
//! Rewrites:
//! - `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1` → `x`;
//!   `0 - x` → `-x`; `x * -1`, `-1 * x` → `-x`;
//! - `a + (-b)` → `a - b`; `(-a) + b` → `b - a`; `a - (-b)` → `a + b`;
//!   `(-a) * (-b)` → `a * b`;
//! - `-(-x)` → `x`; `(-x) * c` and `-(x * c)` → `x * (-c)` for a splat
//!   constant `c`; `c1 * (c2 * x)` → `(c1·c2) * x` when `c1` or `c2` is a
//!   power of two (so the product is exact);
//! - `pow(x, 1)` → `x`; `pow(x, 2)` → `x * x`: the correctly rounded
//!   square, which is what IEEE 754 recommends `pow(x, 2)` return (glibc's
//!   `pow`, within 0.52 ulp, agrees on every value tested, special values
//!   included: NaN, infinities and zeros square alike);
//! - `broadcast`/`reshape`/`transpose`/`cast` to the operand's own type,
//!   full `slice`, zero `pad`, one-operand `concat`, `reduce_*` over no axes
//!   → the operand;
//! - `broadcast(broadcast x)`, `reshape(reshape x)` → one op;
//!   `transpose(transpose x)` → one transpose with the composed permutation
//!   (or `x` if it is the identity); `cast(cast x)` `f32→f64→f32` → `x`;
//! - `reshape`/`transpose` of a broadcast scalar, and `broadcast` of a
//!   reshaped scalar → a broadcast of the scalar;
//! - `reduce_sum` over broadcast axes of `broadcast x` → `x` (reshaped,
//!   broadcast to the result) times the number of summed elements;
//! - `select(c, x, x)` → `x`.

use crate::emit::{self, splat_const};
use crate::registry::{OptionSpec, PassType};
use crate::{Pass, PassOptions, PassStats};
use adjoint_ir::{BinaryOp, DType, Graph, NodeId, Op, Result, Shape, UnaryOp};

fn is_pow2(v: f64) -> bool {
    v.is_normal() && {
        let bits = v.abs().to_bits();
        bits & ((1u64 << 52) - 1) == 0
    }
}

fn splat_of(g: &Graph, x: NodeId, v: f64) -> bool {
    splat_const(g, x) == Some(v)
}

fn unary_of(g: &Graph, x: NodeId, u: UnaryOp) -> Option<NodeId> {
    match g[x].op {
        Op::Unary(o) if o == u => Some(g.operands(x)[0]),
        _ => None,
    }
}

/// `x * c` with `c` a scalar constant of `x`'s dtype (broadcast).
fn mul_const(g: &mut Graph, x: NodeId, c: f64) -> Result<NodeId> {
    emit::scale(g, x, c)
}

/// If `x` is `mul(y, c)` or `mul(c, y)` with a splat constant `c`, `(y, c)`.
fn mul_by_const(g: &Graph, x: NodeId) -> Option<(NodeId, f64)> {
    if g[x].op != Op::Binary(BinaryOp::Mul) {
        return None;
    }
    let o = g.operands(x);
    if let Some(c) = splat_const(g, o[1]) {
        return Some((o[0], c));
    }
    splat_const(g, o[0]).map(|c| (o[1], c))
}

fn is_scalar_broadcast(g: &Graph, x: NodeId) -> Option<NodeId> {
    match &g[x].op {
        Op::Broadcast { .. } => {
            let o = g.operands(x)[0];
            g.ty(o).shape.is_scalar().then_some(o)
        }
        _ => None,
    }
}

/// If `x` is a one-element `reshape` of a scalar, that scalar (so a
/// broadcast of it can start from the scalar).
fn scalar_source(g: &Graph, x: NodeId) -> Option<NodeId> {
    match &g[x].op {
        Op::Reshape { .. } => {
            let o = g.operands(x)[0];
            g.ty(o).shape.is_scalar().then_some(o)
        }
        _ => None,
    }
}

/// One rewrite of node `id`, if a rule applies: the value that replaces it.
fn rewrite(g: &mut Graph, id: NodeId) -> Result<Option<NodeId>> {
    let op = g[id].op.clone();
    let xs = g.operands(id);
    let ty = g.ty(id).clone();
    Ok(match &op {
        Op::Binary(b) => {
            let (a, c) = (xs[0], xs[1]);
            match b {
                BinaryOp::Add => {
                    if splat_of(g, c, 0.0) {
                        Some(a)
                    } else if splat_of(g, a, 0.0) {
                        Some(c)
                    } else if let Some(nb) = unary_of(g, c, UnaryOp::Neg) {
                        Some(emit::sub(g, a, nb)?)
                    } else if let Some(na) = unary_of(g, a, UnaryOp::Neg) {
                        Some(emit::sub(g, c, na)?)
                    } else {
                        None
                    }
                }
                BinaryOp::Sub => {
                    if splat_of(g, c, 0.0) {
                        Some(a)
                    } else if splat_of(g, a, 0.0) {
                        Some(emit::neg(g, c)?)
                    } else if let Some(nb) = unary_of(g, c, UnaryOp::Neg) {
                        Some(emit::add(g, a, nb)?)
                    } else {
                        None
                    }
                }
                BinaryOp::Mul => {
                    let (ca, cc) = (splat_const(g, a), splat_const(g, c));
                    if cc == Some(1.0) {
                        Some(a)
                    } else if ca == Some(1.0) {
                        Some(c)
                    } else if cc == Some(-1.0) {
                        Some(emit::neg(g, a)?)
                    } else if ca == Some(-1.0) {
                        Some(emit::neg(g, c)?)
                    } else if let (Some(na), Some(nc)) =
                        (unary_of(g, a, UnaryOp::Neg), unary_of(g, c, UnaryOp::Neg))
                    {
                        Some(emit::mul(g, na, nc)?)
                    } else if let (Some(k), Some(nx)) = (cc, unary_of(g, a, UnaryOp::Neg)) {
                        Some(mul_const(g, nx, -k)?)
                    } else if let (Some(k), Some(nx)) = (ca, unary_of(g, c, UnaryOp::Neg)) {
                        Some(mul_const(g, nx, -k)?)
                    } else if let Some(k1) = cc.or(ca) {
                        let other = if cc.is_some() { a } else { c };
                        match mul_by_const(g, other) {
                            Some((y, k2))
                                if (is_pow2(k1) || is_pow2(k2)) && (k1 * k2).is_normal() =>
                            {
                                Some(mul_const(g, y, k1 * k2)?)
                            }
                            _ => None,
                        }
                    } else {
                        None
                    }
                }
                BinaryOp::Div => splat_of(g, c, 1.0).then_some(a),
                BinaryOp::Pow => {
                    if splat_of(g, c, 1.0) {
                        Some(a)
                    } else if splat_of(g, c, 2.0) {
                        Some(emit::mul(g, a, a)?)
                    } else {
                        None
                    }
                }
                BinaryOp::Max | BinaryOp::Min => None,
            }
        }
        Op::Unary(UnaryOp::Neg) => {
            let x = xs[0];
            if let Some(y) = unary_of(g, x, UnaryOp::Neg) {
                Some(y)
            } else if let Some((y, k)) = mul_by_const(g, x) {
                Some(mul_const(g, y, -k)?)
            } else {
                None
            }
        }
        Op::Unary(_)
        | Op::Param { .. }
        | Op::Const(_)
        | Op::Compare(_)
        | Op::MatMul
        | Op::Call(_) => None,
        Op::Select => (xs[1] == xs[2]).then_some(xs[1]),
        Op::Broadcast { shape } => {
            let x = xs[0];
            if g.ty(x).shape == *shape {
                Some(x)
            } else if let Op::Broadcast { .. } = g[x].op {
                let inner = g.operands(x)[0];
                Some(emit::broadcast(g, inner, shape)?)
            } else if let Some(s) = scalar_source(g, x) {
                Some(emit::broadcast(g, s, shape)?)
            } else {
                None
            }
        }
        Op::Reshape { shape } => {
            let x = xs[0];
            if g.ty(x).shape == *shape {
                Some(x)
            } else if let Op::Reshape { .. } = g[x].op {
                let inner = g.operands(x)[0];
                Some(emit::reshape(g, inner, shape)?)
            } else if let Some(s) = is_scalar_broadcast(g, x) {
                Some(emit::broadcast(g, s, shape)?)
            } else {
                None
            }
        }
        Op::Transpose { perm } => {
            let x = xs[0];
            if perm.iter().enumerate().all(|(i, &p)| i == p) {
                Some(x)
            } else if let Op::Transpose { perm: p1 } = &g[x].op {
                let composed: Vec<usize> = perm.iter().map(|&i| p1[i]).collect();
                let inner = g.operands(x)[0];
                Some(emit::transpose(g, inner, composed)?)
            } else if let Some(s) = is_scalar_broadcast(g, x) {
                Some(emit::broadcast(g, s, &ty.shape)?)
            } else {
                None
            }
        }
        Op::Cast { to } => {
            let x = xs[0];
            if g.ty(x).dtype == *to {
                Some(x)
            } else if let Op::Cast { .. } = g[x].op {
                let inner = g.operands(x)[0];
                (g.ty(inner).dtype == *to && *to == DType::F32).then_some(inner)
            } else {
                None
            }
        }
        Op::Slice { start, end, stride } => {
            let d = g.ty(xs[0]).shape.clone();
            let full = (0..d.rank()).all(|i| start[i] == 0 && end[i] == d.0[i] && stride[i] == 1);
            full.then_some(xs[0])
        }
        Op::Pad { lo, hi } => lo.iter().chain(hi).all(|&p| p == 0).then_some(xs[0]),
        Op::Concat { .. } => (xs.len() == 1).then_some(xs[0]),
        Op::ReduceMax { axes } => axes.is_empty().then_some(xs[0]),
        Op::ReduceSum { axes } => {
            let x = xs[0];
            if axes.is_empty() {
                Some(x)
            } else if let Op::Broadcast { shape } = g[x].op.clone() {
                reduce_of_broadcast(g, g.operands(x)[0], &shape, axes, &ty.shape)?
            } else {
                None
            }
        }
    })
}

/// `reduce_sum(broadcast(x → s), axes)` when every summed axis is one the
/// broadcast created (a new leading axis or a size-1 axis of `x`): the
/// result is `x` without those axes, broadcast to the result shape, times
/// the number of summed elements.
fn reduce_of_broadcast(
    g: &mut Graph,
    x: NodeId,
    s: &Shape,
    axes: &[usize],
    out: &Shape,
) -> Result<Option<NodeId>> {
    let xs = g.ty(x).shape.clone();
    let off = s.rank() - xs.rank();
    if axes.iter().any(|&a| a >= off && xs.0[a - off] != 1) {
        return Ok(None);
    }
    let count: usize = axes.iter().map(|&a| s.0[a]).product();
    let kept: Vec<usize> = (0..xs.rank())
        .filter(|&j| !axes.contains(&(j + off)))
        .map(|j| xs.0[j])
        .collect();
    let r = emit::reshape(g, x, &Shape(kept))?;
    let b = emit::broadcast(g, r, out)?;
    if count == 1 {
        return Ok(Some(b));
    }
    Ok(Some(mul_const(g, b, count as f64)?))
}

/// Removes `id` if it is unused, then every operand chain left without
/// uses (never parameters or outputs), recording the removed ops.
pub(crate) fn remove_if_dead(
    g: &mut Graph,
    id: NodeId,
    removed: &mut Vec<&'static str>,
) -> Result<()> {
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        if !g.contains(n) || g.use_count(n) != 0 || g.params().contains(&n) {
            continue;
        }
        let ops = g.operands(n);
        removed.push(g.remove_node(n)?.op.name());
        stack.extend(ops);
    }
    Ok(())
}

/// Applies the rewrites to a fixed point; returns the number of nodes
/// added and the ops of the nodes removed.
pub fn simplify_graph(g: &mut Graph) -> Result<(usize, Vec<&'static str>)> {
    let start = g.len();
    let mut removed = Vec::new();
    for _round in 0..32 {
        let mut changed = false;
        for id in g.topo_order()? {
            if !g.contains(id) {
                continue;
            }
            if let Some(r) = rewrite(g, id)? {
                if r == id {
                    continue;
                }
                g.replace_all_uses(id, r);
                remove_if_dead(g, id, &mut removed)?;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let added = (g.len() + removed.len()).saturating_sub(start);
    Ok((added, removed))
}

/// The `simplify` pass.
#[derive(Clone, Debug, Default)]
pub struct Simplify;

impl Pass for Simplify {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<PassStats> {
        let (added, removed) = simplify_graph(g)?;
        Ok(PassStats::removing(added, &removed))
    }
}

impl PassType for Simplify {
    const NAME: &'static str = "simplify";
    const SUMMARY: &'static str =
        "algebraic simplification (x*1, x+0, neg(neg x), broadcast/reshape/transpose chains, reduce of broadcast, ...)";
    const OPTIONS: &'static [OptionSpec] = &[];
    fn from_options(_: &PassOptions) -> Result<Self> {
        Ok(Simplify)
    }
}
