//! The rewrite rules of `simplify` and the one fact they consult (whether
//! a value can be `-0`). Each rule either is exact (see the module docs of
//! [`super`]) or checks `fast_math` first.

use crate::emit::{self, splat_const};
use adjoint_ir::{BinaryOp, DType, Graph, NodeId, Op, Result, Shape, UnaryOp};

/// What a rule may consult: the mode, and the "never `-0`" facts of nodes
/// already simplified.
pub(super) struct Ctx<'a> {
    /// Whether inexact rewrites are allowed (`simplify{fast_math=true}`).
    pub fast_math: bool,
    /// Per node index: whether the node's value never has a `-0` element.
    pub no_neg_zero: &'a dyn Fn(NodeId) -> bool,
}

/// Whether `v` is a power of two of magnitude at least one (so scaling by
/// it never rounds and never underflows).
fn is_pow2_ge1(v: f64) -> bool {
    is_pow2(v) && v.abs() >= 1.0
}

/// Whether `v` is a normal number of `dtype` exactly (an `f32` constant
/// of `v` neither rounds nor overflows).
fn normal_in(dtype: DType, v: f64) -> bool {
    match dtype {
        DType::F32 => (v as f32).is_normal() && f64::from(v as f32) == v,
        _ => v.is_normal(),
    }
}

fn is_pow2(v: f64) -> bool {
    v.is_normal() && v.abs().to_bits() & ((1u64 << 52) - 1) == 0
}

/// Whether `x` is a splat constant whose elements have exactly the bits of
/// `v` (so `+0` and `-0` differ).
fn splat_bits(g: &Graph, x: NodeId, v: f64) -> bool {
    splat_const(g, x).is_some_and(|c| c.to_bits() == v.to_bits())
}

fn unary_of(g: &Graph, x: NodeId, u: UnaryOp) -> Option<NodeId> {
    match g[x].op {
        Op::Unary(o) if o == u => Some(g.operands(x)[0]),
        _ => None,
    }
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

/// Whether node `id` never holds `-0`, given the same fact for its
/// operands (`known`). Conservative: `false` when unsure. Used by `x + 0 →
/// x`, which is exact exactly when `x` is never `-0`.
pub(super) fn never_neg_zero(g: &Graph, id: NodeId, known: &dyn Fn(NodeId) -> bool) -> bool {
    let ops = || g.operands(id);
    match &g[id].op {
        Op::Const(t) => match t.dtype() {
            DType::Bool => true,
            _ => !t
                .to_f64_vec()
                .iter()
                .any(|v| v.to_bits() == (-0.0f64).to_bits()),
        },
        // Sums start at +0 in the fixed order every engine follows
        // (docs/ir.md §14), and `+0 + -0 = +0`. (Not `matmul`: an engine
        // may sum its products in another order.)
        Op::ReduceSum { .. } | Op::Compare(_) => true,
        Op::Unary(UnaryOp::Relu | UnaryOp::Abs | UnaryOp::Exp | UnaryOp::Log) => true,
        // `a + b` is -0 only if both are -0.
        Op::Binary(BinaryOp::Add) => ops().iter().any(|&o| known(o)),
        Op::Broadcast { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. } => ops().iter().all(|&o| known(o)),
        Op::Select => ops()[1..].iter().all(|&o| known(o)),
        Op::Cast { to } => {
            // bool -> float gives +0 or 1; f32 -> f64 is exact; f64 -> f32
            // can round a tiny negative to -0.
            let from = g.ty(ops()[0]).dtype;
            from == DType::Bool || from == DType::F32 && *to == DType::F64 && known(ops()[0])
        }
        _ => false,
    }
}

/// One rewrite of node `id`, if a rule applies: the value that replaces it.
pub(super) fn rewrite(g: &mut Graph, id: NodeId, cx: &Ctx) -> Result<Option<NodeId>> {
    let op = g[id].op.clone();
    let xs = g.operands(id);
    let ty = g.ty(id).clone();
    let fast = cx.fast_math;
    Ok(match &op {
        Op::Binary(b) => {
            let (a, c) = (xs[0], xs[1]);
            match b {
                BinaryOp::Add => {
                    // x + (-0) = x always; x + (+0) = x unless x = -0.
                    let zero_ok = |x: NodeId| fast || (cx.no_neg_zero)(x);
                    if splat_bits(g, c, -0.0) || splat_bits(g, c, 0.0) && zero_ok(a) {
                        Some(a)
                    } else if splat_bits(g, a, -0.0) || splat_bits(g, a, 0.0) && zero_ok(c) {
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
                    // x - (+0) = x always; x - (-0) = x + 0.
                    // (-0) - x = -x always; (+0) - x = -x unless x = +0.
                    if splat_bits(g, c, 0.0)
                        || splat_bits(g, c, -0.0) && (fast || (cx.no_neg_zero)(a))
                    {
                        Some(a)
                    } else if splat_bits(g, a, -0.0) || fast && splat_bits(g, a, 0.0) {
                        Some(emit::neg(g, c)?)
                    } else if let Some(nb) = unary_of(g, c, UnaryOp::Neg) {
                        Some(emit::add(g, a, nb)?)
                    } else {
                        None
                    }
                }
                BinaryOp::Mul => rewrite_mul(g, a, c, fast)?,
                BinaryOp::Div => splat_bits(g, c, 1.0).then_some(a),
                BinaryOp::Pow => {
                    // Fast math only. pow(x, 2) is not always x*x: glibc's
                    // pow is not correctly rounded (pow(1.000067609999589, 2)
                    // is an ulp below the square). pow(x, 1) = x holds for
                    // the platform's pow (error under an ulp), but an
                    // engine's polynomial pow promises only a bound.
                    if fast && splat_bits(g, c, 1.0) {
                        Some(a)
                    } else if fast && splat_bits(g, c, 2.0) {
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
                // -(y·k) = y·(-k): rounding is symmetric.
                Some(emit::scale(g, y, -k)?)
            } else {
                None
            }
        }
        Op::Unary(_)
        | Op::Param { .. }
        | Op::Const(_)
        | Op::Compare(_)
        | Op::MatMul
        | Op::Call(_)
        | Op::Iota { .. }
        | Op::Logical(_)
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::Revolve { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => None,
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
                // f32 -> f64 -> f32 is exact (f64 -> f32 -> f64 rounds).
                let inner = g.operands(x)[0];
                (g.ty(inner).dtype == *to && *to == DType::F32 && g.ty(x).dtype == DType::F64)
                    .then_some(inner)
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
        // The maximum of one element is `max(-inf, x) = x`.
        Op::ReduceMax { axes } => axes.is_empty().then_some(xs[0]),
        Op::ReduceSum { axes } => {
            let x = xs[0];
            if axes.is_empty() {
                // A sum of one element is `+0 + x`: x, unless x = -0.
                (fast || (cx.no_neg_zero)(x)).then_some(x)
            } else if let Op::Broadcast { shape } = g[x].op.clone() {
                let inner = g.operands(x)[0];
                reduce_of_broadcast(g, inner, &shape, axes, &ty.shape, cx)?
            } else {
                None
            }
        }
    })
}

/// The `mul` rules: `x·1`, `x·(-1)`, `(-a)(-b)`, `(-x)·c`, `c1·(c2·x)`.
fn rewrite_mul(g: &mut Graph, a: NodeId, c: NodeId, fast: bool) -> Result<Option<NodeId>> {
    let (ca, cc) = (splat_const(g, a), splat_const(g, c));
    let is = |v: Option<f64>, w: f64| v.is_some_and(|v| v.to_bits() == w.to_bits());
    Ok(if is(cc, 1.0) {
        Some(a)
    } else if is(ca, 1.0) {
        Some(c)
    } else if is(cc, -1.0) {
        Some(emit::neg(g, a)?)
    } else if is(ca, -1.0) {
        Some(emit::neg(g, c)?)
    } else if let (Some(na), Some(nc)) =
        (unary_of(g, a, UnaryOp::Neg), unary_of(g, c, UnaryOp::Neg))
    {
        Some(emit::mul(g, na, nc)?)
    } else if let (Some(k), Some(nx)) = (cc, unary_of(g, a, UnaryOp::Neg)) {
        Some(emit::scale(g, nx, -k)?)
    } else if let (Some(k), Some(nx)) = (ca, unary_of(g, c, UnaryOp::Neg)) {
        Some(emit::scale(g, nx, -k)?)
    } else if let Some(k1) = cc.or(ca) {
        let other = if cc.is_some() { a } else { c };
        match mul_by_const(g, other) {
            // Exact only when both scale up by powers of two: no rounding,
            // and the inner product overflows exactly when the folded one
            // does. (2^-100·(2^100·x) overflows where x does not; 3·(x·0.5)
            // rounds a subnormal twice.)
            Some((y, k2))
                if is_pow2_ge1(k1) && is_pow2_ge1(k2) && normal_in(g.ty(y).dtype, k1 * k2) =>
            {
                Some(emit::scale(g, y, k1 * k2)?)
            }
            Some((y, k2))
                if fast && (is_pow2(k1) || is_pow2(k2)) && normal_in(g.ty(y).dtype, k1 * k2) =>
            {
                Some(emit::scale(g, y, k1 * k2)?)
            }
            _ => None,
        }
    } else {
        None
    })
}

/// The sums `(x + 0)·n` gives bit for bit: the `reduce_sum` order of
/// docs/ir.md §14 (four partials, each starting at `+0`) adds `n` copies
/// of `x` with a single rounding only for these counts (each partial holds
/// at most three copies and the partials combine by exact doublings).
const EXACT_COPY_COUNTS: [usize; 7] = [1, 2, 3, 4, 6, 8, 12];

/// `reduce_sum(broadcast(x → s), axes)` when every summed axis is one the
/// broadcast created (a new leading axis or a size-1 axis of `x`): the
/// result is `x` without those axes, broadcast to the result shape, summed
/// `count` times. An empty sum is zeros; `x·count` for the counts where
/// that is exact (with `x + 0` first if `x` may be `-0`), any count under
/// fast math.
fn reduce_of_broadcast(
    g: &mut Graph,
    x: NodeId,
    s: &Shape,
    axes: &[usize],
    out: &Shape,
    cx: &Ctx,
) -> Result<Option<NodeId>> {
    let xs = g.ty(x).shape.clone();
    let off = s.rank() - xs.rank();
    if axes.iter().any(|&a| a >= off && xs.0[a - off] != 1) {
        return Ok(None);
    }
    let count: usize = axes.iter().map(|&a| s.0[a]).product();
    let dtype = g.ty(x).dtype;
    if count == 0 {
        let zeros = adjoint_ir::TensorType {
            dtype,
            shape: out.clone(),
        };
        return Ok(Some(emit::zeros(g, &zeros)?));
    }
    if !cx.fast_math && !EXACT_COPY_COUNTS.contains(&count) {
        return Ok(None);
    }
    let kept: Vec<usize> = (0..xs.rank())
        .filter(|&j| !axes.contains(&(j + off)))
        .map(|j| xs.0[j])
        .collect();
    let mut v = emit::reshape(g, x, &Shape(kept))?;
    if !cx.fast_math && !(cx.no_neg_zero)(x) {
        let z = emit::lit(g, v, 0.0);
        v = emit::add(g, v, z)?;
    }
    if count != 1 {
        v = emit::scale(g, v, count as f64)?;
    }
    Ok(Some(emit::broadcast(g, v, out)?))
}
