//! Small helpers that append ops to a [`Graph`], used by the derivative
//! rules and the rewriting passes. Every helper goes through
//! [`Graph::add`] / [`Graph::add_broadcasting`], so types are inferred and
//! checked, and every emitted op is a differentiable primitive.
//!
//! Helpers that take a batch rank `k` treat the first `k` axes of their
//! (co)tangent operand as a batch prefix that the primal shapes do not have
//! (the Jacobian pass pushes many directions at once this way).

use adjoint_ir::{
    BinaryOp, CompareOp, DType, Graph, NodeId, Op, Result, Shape, Tensor, TensorType, UnaryOp,
};

/// A scalar constant of `dtype`.
pub fn scalar(g: &mut Graph, dtype: DType, v: f64) -> NodeId {
    g.constant(Tensor::full(&TensorType::scalar(dtype), v))
}

/// A tensor of type `ty` filled with `v`: a scalar constant, broadcast if
/// `ty` is not a scalar (so large zeros cost one scalar in the IR).
pub fn full(g: &mut Graph, ty: &TensorType, v: f64) -> Result<NodeId> {
    let c = scalar(g, ty.dtype, v);
    broadcast(g, c, &ty.shape)
}

/// Zeros of type `ty`.
pub fn zeros(g: &mut Graph, ty: &TensorType) -> Result<NodeId> {
    full(g, ty, 0.0)
}

/// A scalar constant with the dtype of `like`.
pub fn lit(g: &mut Graph, like: NodeId, v: f64) -> NodeId {
    let dt = g.ty(like).dtype;
    scalar(g, dt, v)
}

/// An elementwise binary op with numpy broadcasting of the operands.
pub fn bin(g: &mut Graph, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId> {
    g.add_broadcasting(Op::Binary(op), &[a, b])
}

/// `a + b` (broadcasting).
pub fn add(g: &mut Graph, a: NodeId, b: NodeId) -> Result<NodeId> {
    bin(g, BinaryOp::Add, a, b)
}

/// `a - b` (broadcasting).
pub fn sub(g: &mut Graph, a: NodeId, b: NodeId) -> Result<NodeId> {
    bin(g, BinaryOp::Sub, a, b)
}

/// `a * b` (broadcasting).
pub fn mul(g: &mut Graph, a: NodeId, b: NodeId) -> Result<NodeId> {
    bin(g, BinaryOp::Mul, a, b)
}

/// `a / b` (broadcasting).
pub fn div(g: &mut Graph, a: NodeId, b: NodeId) -> Result<NodeId> {
    bin(g, BinaryOp::Div, a, b)
}

/// `a * v` for a scalar `v` of `a`'s dtype.
pub fn scale(g: &mut Graph, a: NodeId, v: f64) -> Result<NodeId> {
    let c = lit(g, a, v);
    mul(g, a, c)
}

/// `v - a` for a scalar `v` of `a`'s dtype.
pub fn rsub(g: &mut Graph, v: f64, a: NodeId) -> Result<NodeId> {
    let c = lit(g, a, v);
    sub(g, c, a)
}

/// An elementwise unary op.
pub fn un(g: &mut Graph, op: UnaryOp, a: NodeId) -> Result<NodeId> {
    g.add(Op::Unary(op), &[a])
}

/// `-a`.
pub fn neg(g: &mut Graph, a: NodeId) -> Result<NodeId> {
    un(g, UnaryOp::Neg, a)
}

/// A comparison with broadcasting.
pub fn cmp(g: &mut Graph, op: CompareOp, a: NodeId, b: NodeId) -> Result<NodeId> {
    g.add_broadcasting(Op::Compare(op), &[a, b])
}

/// `a <op> v` for a scalar `v`.
pub fn cmp_lit(g: &mut Graph, op: CompareOp, a: NodeId, v: f64) -> Result<NodeId> {
    let c = lit(g, a, v);
    cmp(g, op, a, c)
}

/// `c ? a : b` with broadcasting (the condition and the branches may be
/// broadcast to a common shape).
pub fn select(g: &mut Graph, c: NodeId, a: NodeId, b: NodeId) -> Result<NodeId> {
    g.add_broadcasting(Op::Select, &[c, a, b])
}

/// `c ? a : 0`.
pub fn select_or_zero(g: &mut Graph, c: NodeId, a: NodeId) -> Result<NodeId> {
    let z = lit(g, a, 0.0);
    select(g, c, a, z)
}

/// `c ? 0 : a`.
pub fn select_zero_or(g: &mut Graph, c: NodeId, a: NodeId) -> Result<NodeId> {
    let z = lit(g, a, 0.0);
    select(g, c, z, a)
}

/// Broadcast to `shape`; no node if the shape is already `shape`.
pub fn broadcast(g: &mut Graph, x: NodeId, shape: &Shape) -> Result<NodeId> {
    if &g.ty(x).shape == shape {
        return Ok(x);
    }
    g.add(
        Op::Broadcast {
            shape: shape.clone(),
        },
        &[x],
    )
}

/// Reshape to `shape`; no node if the shape is already `shape`.
pub fn reshape(g: &mut Graph, x: NodeId, shape: &Shape) -> Result<NodeId> {
    if &g.ty(x).shape == shape {
        return Ok(x);
    }
    g.add(
        Op::Reshape {
            shape: shape.clone(),
        },
        &[x],
    )
}

/// Transpose by `perm`; no node for the identity.
pub fn transpose(g: &mut Graph, x: NodeId, perm: Vec<usize>) -> Result<NodeId> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(x);
    }
    g.add(Op::Transpose { perm }, &[x])
}

/// Swaps the last two axes.
pub fn transpose_last2(g: &mut Graph, x: NodeId) -> Result<NodeId> {
    let r = g.ty(x).shape.rank();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    transpose(g, x, perm)
}

/// Sum over `axes`; no node if `axes` is empty.
pub fn reduce_sum(g: &mut Graph, x: NodeId, axes: Vec<usize>) -> Result<NodeId> {
    if axes.is_empty() {
        return Ok(x);
    }
    g.add(Op::ReduceSum { axes }, &[x])
}

/// Converts to `to`; no node if already `to`.
pub fn cast(g: &mut Graph, x: NodeId, to: DType) -> Result<NodeId> {
    if g.ty(x).dtype == to {
        return Ok(x);
    }
    g.add(Op::Cast { to }, &[x])
}

/// `batch ++ shape`.
pub fn prefixed(batch: &[usize], shape: &Shape) -> Shape {
    let mut d = batch.to_vec();
    d.extend_from_slice(shape.dims());
    Shape(d)
}

/// The unbroadcast of the seed notes: sums `x` (shape `B ++ X`, `B` the
/// first `k` axes) down to `B ++ target`, where `target` broadcasts to `X`:
/// sums the leading axes `X` has beyond `target`'s rank and the axes where
/// `target` has size 1, then reshapes.
pub fn sum_to(g: &mut Graph, x: NodeId, k: usize, target: &Shape) -> Result<NodeId> {
    let xs = g.ty(x).shape.clone();
    let batch = &xs.dims()[..k];
    let inner = &xs.dims()[k..];
    let extra = inner.len() - target.rank();
    let mut axes: Vec<usize> = (0..extra).map(|i| i + k).collect();
    for (i, &d) in target.dims().iter().enumerate() {
        if d == 1 && inner[extra + i] != 1 {
            axes.push(k + extra + i);
        }
    }
    let s = reduce_sum(g, x, axes)?;
    reshape(g, s, &prefixed(batch, target))
}

/// Reshapes `x` (shape `B ++ X`) to `B ++ [1; r - rank X] ++ X`, so that its
/// non-batch part has rank `r` and numpy broadcasting aligns it with values
/// of rank `r` without mixing up the batch axes.
pub fn expand_rank(g: &mut Graph, x: NodeId, k: usize, r: usize) -> Result<NodeId> {
    let xs = g.ty(x).shape.clone();
    let inner = &xs.dims()[k..];
    if inner.len() >= r {
        return Ok(x);
    }
    let mut d = xs.dims()[..k].to_vec();
    d.extend(std::iter::repeat_n(1, r - inner.len()));
    d.extend_from_slice(inner);
    reshape(g, x, &Shape(d))
}

/// If `x` is a constant with every element equal (looking through
/// `broadcast` and `reshape` of a constant), that value.
pub fn splat_const(g: &Graph, x: NodeId) -> Option<f64> {
    match &g[x].op {
        Op::Const(t) => t.splat_value(),
        Op::Broadcast { .. } | Op::Reshape { .. } => splat_const(g, g.operands(x)[0]),
        _ => None,
    }
}
