//! Pads recomputed by their consumers: a padded elementwise value read
//! only by loops is recomputed at shifted indices instead of stored and
//! read back.

use super::kernel_builder::KernelBuilder;
use super::{is_region_member, jit_err, reads_in_region, Builder, Val, View};
use crate::kernel_ir::{BufId, ExprId, KExpr};
use adjoint_ir::fusion::{is_reduction, Regions};
use adjoint_ir::{BinaryOp, DType, Graph, NodeId, Op, Result, UnaryOp};
use std::collections::{BTreeSet, HashMap};

/// The operands read from memory by `node` and the members of its region
/// it reads in registers (transitively).
pub(super) fn in_region_leaves(g: &Graph, regions: &Regions, node: NodeId) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        for o in g.operands(n) {
            if reads_in_region(g, regions, o, n) {
                stack.push(o);
            } else {
                out.push(o);
            }
        }
    }
    out
}

/// The largest in-region computation a consumer recomputes for a pad.
pub(super) const MAX_RECOMPUTE_NODES: usize = 48;

/// Pads whose consumers recompute the padded value instead of reading it
/// from memory: the operand is an elementwise value of a region without
/// reductions, computed from parameters, constants and their views in at
/// most `MAX_RECOMPUTE_NODES` cheap nodes, and every user of the pad is a
/// loop. One loop then reads the inputs once, instead of one loop storing
/// the value and another reading it back (the Rosenbrock gradients).
pub(super) fn recompute_pads(g: &Graph, regions: &Regions, cheap_math: bool) -> BTreeSet<NodeId> {
    let mut reducing = BTreeSet::new();
    for id in g.node_ids() {
        if is_reduction(&g[id].op) {
            if let Some(r) = regions.region(id) {
                reducing.insert(r);
            }
        }
    }
    let cheap = |op: &Op| match op {
        Op::Unary(u) => match u {
            UnaryOp::Sin | UnaryOp::Cos => false,
            UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sigmoid => cheap_math,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sqrt | UnaryOp::Relu => true,
        },
        Op::Binary(b) => *b != BinaryOp::Pow,
        Op::Compare(_) | Op::Select | Op::Cast { .. } => true,
        _ => false,
    };
    let outputs: BTreeSet<NodeId> = g.outputs().iter().copied().collect();
    let mut out = BTreeSet::new();
    for id in g.node_ids() {
        if !matches!(g[id].op, Op::Pad { .. }) || outputs.contains(&id) {
            continue;
        }
        let o = g.operands(id)[0];
        let Some(r) = regions.region(o) else { continue };
        if !g[o].op.is_elementwise() || reducing.contains(&r) || g[o].ty.dtype == DType::Bool {
            continue;
        }
        let users_ok = g
            .users(id)
            .iter()
            .all(|&u| is_region_member(&g[u].op) && regions.region(u).is_some());
        if !users_ok {
            continue;
        }
        let mut nodes = BTreeSet::new();
        let mut stack = vec![o];
        let mut ok = true;
        while let Some(n) = stack.pop() {
            if !nodes.insert(n) {
                continue;
            }
            if !cheap(&g[n].op) || nodes.len() > MAX_RECOMPUTE_NODES {
                ok = false;
                break;
            }
            for p in g.operands(n) {
                if reads_in_region(g, regions, p, n) {
                    stack.push(p);
                } else if !leaf_or_view_of_leaves(g, p) {
                    ok = false;
                }
            }
        }
        if ok {
            out.insert(id);
        }
    }
    out
}

/// Whether `n` is a parameter or constant, or shape ops of one.
pub(super) fn leaf_or_view_of_leaves(g: &Graph, mut n: NodeId) -> bool {
    loop {
        match &g[n].op {
            Op::Param { .. } | Op::Const(_) => return true,
            Op::Broadcast { .. } | Op::Slice { .. } | Op::Transpose { .. } | Op::Reshape { .. } => {
                n = g.operands(n)[0];
            }
            _ => return false,
        }
    }
}

impl Builder<'_> {
    /// Emits, into a consumer's kernel, the value `node` of another region
    /// at the consumer's index minus `lo`, zero outside `valid`.
    pub(super) fn recompute_expr(
        &mut self,
        k: &mut KernelBuilder,
        node: NodeId,
        lo: &[usize],
        valid: &[(usize, usize)],
    ) -> Result<ExprId> {
        let g = self.g;
        fn visit(
            g: &Graph,
            regions: &Regions,
            n: NodeId,
            seen: &mut BTreeSet<NodeId>,
            order: &mut Vec<NodeId>,
        ) {
            if !seen.insert(n) {
                return;
            }
            for o in g.operands(n) {
                if reads_in_region(g, regions, o, n) {
                    visit(g, regions, o, seen, order);
                }
            }
            order.push(n);
        }
        let mut order = Vec::new();
        visit(g, self.regions, node, &mut BTreeSet::new(), &mut order);
        let restrict: Vec<Option<(usize, usize)>> = valid
            .iter()
            .zip(&k.dims)
            .map(|(&(s, n), &d)| (s > 0 || s + n < d).then_some((s, n)))
            .collect();
        let shift = |v: &View| -> View {
            let mut offset = v.offset;
            for (d, &l) in lo.iter().enumerate() {
                offset -= l as i64 * v.strides[d];
            }
            View {
                buf: v.buf,
                offset,
                strides: v.strides.clone(),
            }
        };
        if restrict.iter().any(|r| r.is_some_and(|(_, n)| n == 0)) {
            // Padding only: nothing of `node` is ever read.
            return Ok(k.push(KExpr::Const(0.0), g[node].ty.dtype));
        }
        let mut ex: HashMap<NodeId, ExprId> = HashMap::new();
        let mut any_buf = None;
        for &n in &order {
            let mut args = Vec::new();
            for o in g.operands(n) {
                let e = if reads_in_region(g, self.regions, o, n) {
                    ex[&o]
                } else {
                    match self.vals.get(&o).cloned() {
                        Some(Val::View(v)) => {
                            any_buf = Some(v.buf);
                            k.load(&shift(&v), g[o].ty.dtype, restrict.clone())
                        }
                        Some(Val::Splat(x)) => k.push(KExpr::Const(x), g[o].ty.dtype),
                        _ => {
                            return Err(jit_err(g, n, "internal: recomputed operand is not a view"))
                        }
                    }
                };
                args.push(e);
            }
            let dt = g[n].ty.dtype;
            let e = match &g[n].op {
                Op::Unary(u) => k.push(KExpr::Unary(*u, args[0]), dt),
                Op::Binary(b) => k.push(KExpr::Binary(*b, args[0], args[1]), dt),
                Op::Compare(c) => k.push(KExpr::Compare(*c, args[0], args[1]), dt),
                Op::Select => k.push(KExpr::Select(args[0], args[1], args[2]), dt),
                Op::Cast { to } => {
                    let from = g[g.operands(n)[0]].ty.dtype;
                    k.push(KExpr::Cast(from, args[0]), *to)
                }
                _ => return Err(jit_err(g, n, "internal: not an elementwise op")),
            };
            ex.insert(n, e);
        }
        let value = ex[&node];
        if restrict.iter().all(Option::is_none) {
            return Ok(value);
        }
        // The mask: an access that is never read, carrying the validity.
        let dt = g[node].ty.dtype;
        let buf = any_buf.unwrap_or(BufId::new(0));
        let a = k.access(
            buf,
            dt,
            &View {
                buf,
                offset: 0,
                strides: vec![0; k.dims.len()],
            },
        );
        k.accesses[a].valid = restrict;
        Ok(k.push(KExpr::Masked(value, a), dt))
    }
}
