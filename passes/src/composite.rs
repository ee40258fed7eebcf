//! Composites recognised by the AD passes and differentiated as a whole.
//!
//! The stable log-sum-exp `log(reduce_sum(exp(x − m))) + m` with
//! `m = reduce_max(x)` over the same axes, or `m` that max guarded as
//! `select(abs(max) < inf, max, 0)` (what the builder's `logsumexp`,
//! `log_softmax` and `cross_entropy` emit, so that a row of −inf gives
//! −inf rather than NaN), has derivative `softmax(x)`:
//! the shift by the maximum cancels exactly, so differentiating through the
//! `reduce_max` would only add the argmax mask (nodes and rounding noise).
//! Both AD modes use `softmax = e / s` from the forward values and send
//! nothing into the `reduce_max`, which is what JAX gets with
//! `stop_gradient` in its `logsumexp`.
//!
//! The composite stays transparent to further differentiation: `e` and `s`
//! are ordinary primitives, so a second transform differentiates the
//! softmax through them (the max's tangent cancels there). A transform
//! therefore leaves an inner node without a (co)tangent only when nothing
//! outside the composite reads it ([`LogSumExp::private_inner`]).

use crate::emit;
use adjoint_ir::{BinaryOp, CompareOp, Graph, NodeId, Op, Result, Shape, UnaryOp};
use std::collections::HashSet;

/// A recognised stable log-sum-exp over `axes` of `x`, with the forward
/// values `e = exp(x − m)` and `s = reduce_sum(e)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSumExp {
    /// The operand.
    pub x: NodeId,
    /// `exp(x − m)`.
    pub e: NodeId,
    /// `reduce_sum(e, axes)`.
    pub s: NodeId,
    /// The reduced axes.
    pub axes: Vec<usize>,
    /// Every node strictly inside the composite (`m`, its broadcast,
    /// `x − m`, `e`, `s`, `log s`); a transform seeded or stopped at one of
    /// them must not treat the composite as a whole.
    pub inner: Vec<NodeId>,
}

fn unary_operand(g: &Graph, n: NodeId, u: UnaryOp) -> Option<NodeId> {
    (g[n].op == Op::Unary(u)).then(|| g.operands(n)[0])
}

/// The `reduce_max` inside the builder's guard of a non-finite max,
/// `n = select(lt(abs(max), _), max, z)` with `z` a constant (it replaces
/// an infinite max by 0, so that a row of −inf gives −inf rather than
/// NaN), and the guard's nodes (`max`, `abs`, `lt`). The shift still
/// cancels wherever the max is taken, and a constant shift has no
/// derivative, so the composite's derivative is `softmax(x)` either way.
fn guarded_max(g: &Graph, n: NodeId) -> Option<(NodeId, Vec<NodeId>)> {
    if g[n].op != Op::Select {
        return None;
    }
    let ops = g.operands(n);
    let (c, max, z) = (ops[0], ops[1], ops[2]);
    let is_const = |v: NodeId| matches!(g[v].op, Op::Const(_));
    let z_const =
        is_const(z) || (matches!(g[z].op, Op::Broadcast { .. }) && is_const(g.operands(z)[0]));
    if !z_const || !matches!(g[max].op, Op::ReduceMax { .. }) {
        return None;
    }
    if g[c].op != Op::Compare(CompareOp::Lt) {
        return None;
    }
    let abs = g.operands(c)[0];
    (unary_operand(g, abs, UnaryOp::Abs) == Some(max)).then(|| (max, vec![max, abs, c]))
}

fn sorted(v: &[usize]) -> Vec<usize> {
    let mut v = v.to_vec();
    v.sort_unstable();
    v
}

impl LogSumExp {
    /// Matches `n = add(log(reduce_sum(exp(sub(x, broadcast(reshape(m)))))), m)`
    /// with `m = reduce_max(x)` over the same axes (either operand order of
    /// the `add`; the `reshape` may be absent).
    pub fn recognise(g: &Graph, n: NodeId) -> Option<LogSumExp> {
        if g[n].op != Op::Binary(BinaryOp::Add) {
            return None;
        }
        let ops = g.operands(n);
        let (s, m) = match unary_operand(g, ops[0], UnaryOp::Log) {
            Some(s) => (s, ops[1]),
            None => (unary_operand(g, ops[1], UnaryOp::Log)?, ops[0]),
        };
        let Op::ReduceSum { axes } = &g[s].op else {
            return None;
        };
        let e = g.operands(s)[0];
        let d = unary_operand(g, e, UnaryOp::Exp)?;
        if g[d].op != Op::Binary(BinaryOp::Sub) {
            return None;
        }
        let dops = g.operands(d);
        let (x, bm) = (dops[0], dops[1]);
        if !matches!(g[bm].op, Op::Broadcast { .. }) {
            return None;
        }
        let mut inner_nodes = vec![ops[0], ops[1], s, e, d, bm];
        let mut inner = g.operands(bm)[0];
        if matches!(g[inner].op, Op::Reshape { .. }) {
            inner_nodes.push(inner);
            inner = g.operands(inner)[0];
        }
        if inner != m {
            return None;
        }
        // The builder guards a non-finite max: `select(|m| < inf, m, 0)`.
        let m = match guarded_max(g, m) {
            Some((max, guard)) => {
                inner_nodes.extend(guard);
                max
            }
            None => m,
        };
        let Op::ReduceMax { axes: max_axes } = &g[m].op else {
            return None;
        };
        if g.operands(m)[0] != x || sorted(max_axes) != sorted(axes) {
            return None;
        }
        Some(LogSumExp {
            x,
            e,
            s,
            axes: axes.clone(),
            inner: inner_nodes,
        })
    }

    /// The inner nodes whose own tangent nothing but the composite rooted at
    /// `root` would read, so a transform that differentiates the composite
    /// as a whole may leave them without one.
    ///
    /// An inner node needs its own tangent when `needed_outside(i)` says so
    /// (for example it is an output), or when one of its users outside the
    /// composite reads it (`is_user(u)` filters the users that matter, for
    /// example those on a path to an output), or when an inner node that
    /// needs a tangent reads it: the exponentials `e = exp(x − m)` that a
    /// previous `grad` reused for its `softmax` need the tangents of `x − m`
    /// and of the max, or the gradient's own derivative comes out wrong.
    pub fn private_inner(
        &self,
        g: &Graph,
        root: NodeId,
        needed_outside: impl Fn(NodeId) -> bool,
        is_user: impl Fn(NodeId) -> bool,
    ) -> Vec<NodeId> {
        let inside: HashSet<NodeId> = self.inner.iter().copied().chain([root]).collect();
        let mut needed: HashSet<NodeId> = HashSet::new();
        let mut stack: Vec<NodeId> = self
            .inner
            .iter()
            .copied()
            .filter(|&i| {
                needed_outside(i)
                    || g.users(i)
                        .into_iter()
                        .any(|u| !inside.contains(&u) && is_user(u))
            })
            .collect();
        while let Some(i) = stack.pop() {
            if needed.insert(i) {
                stack.extend(g.operands(i).into_iter().filter(|o| inside.contains(o)));
            }
        }
        self.inner
            .iter()
            .copied()
            .filter(|i| !needed.contains(i))
            .collect()
    }

    fn keepdims(&self, g: &Graph) -> (Shape, Shape) {
        let xs = g.ty(self.x).shape.clone();
        let kd = Shape(
            xs.dims()
                .iter()
                .enumerate()
                .map(|(i, &d)| if self.axes.contains(&i) { 1 } else { d })
                .collect(),
        );
        (xs, kd)
    }

    /// `softmax(x) = e / s` (broadcast), from the forward values.
    fn softmax(&self, g: &mut Graph) -> Result<NodeId> {
        let (xs, kd) = self.keepdims(g);
        let sk = emit::reshape(g, self.s, &kd)?;
        let sb = emit::broadcast(g, sk, &xs)?;
        emit::div(g, self.e, sb)
    }

    /// The adjoint contribution to `x` of cotangent `ct` (shape
    /// `batch ++ shape(result)`): `ct · softmax(x)`.
    pub fn vjp(&self, g: &mut Graph, ct: NodeId, batch: &[usize]) -> Result<NodeId> {
        let (xs, kd) = self.keepdims(g);
        let p = self.softmax(g)?;
        let ck = emit::reshape(g, ct, &emit::prefixed(batch, &kd))?;
        let cb = emit::broadcast(g, ck, &emit::prefixed(batch, &xs))?;
        emit::mul(g, cb, p)
    }

    /// The tangent of the result for tangent `t` of `x` (shape
    /// `batch ++ shape(x)`): `reduce_sum(t · softmax(x))`.
    pub fn jvp(&self, g: &mut Graph, t: NodeId, batch: &[usize]) -> Result<NodeId> {
        let p = self.softmax(g)?;
        let m = emit::mul(g, t, p)?;
        let k = batch.len();
        emit::reduce_sum(g, m, self.axes.iter().map(|a| a + k).collect())
    }
}
