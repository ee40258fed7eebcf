//! Chain decomposition for the Jacobian pass: the cut points between a
//! parameter and an output, found with dominators, split the program into a
//! chain `F = F_q ∘ … ∘ F_1` of stages, each with the size and per-direction
//! cost the bracketing solver needs.
//!
//! Only the *differentiable* part of the graph counts: the values on a path
//! from the parameter to the output through `f32`/`f64` values (a `bool`
//! value, such as a comparison used as a mask, carries no derivative). On
//! that sub-DAG, rooted at the parameter, a value `c` is a cut point when it
//! dominates the output: every path from the parameter to the output passes
//! through it. The dominators of the output, from the parameter to the
//! output, are the chain's cut points `c_0 = x, c_1, …, c_q = y`, and stage
//! `i` is the sub-DAG between `c_{i-1}` and `c_i`. Dominance guarantees that
//! a stage's differentiable operands come only from inside the stage or from
//! its input cut point: everything else a stage reads is a constant for the
//! stage's Jacobian.
//!
//! **Cost per direction (`|E_i|`).** The FMA count of pushing one tangent
//! (or pulling one adjoint) through the stage, summed over its ops and over
//! each op's differentiable operands (an operand that does not depend on the
//! parameter costs nothing):
//!
//! | op | cost per differentiable operand |
//! | --- | --- |
//! | unary, binary, select, cast, reduce_max | elements of the result (of the operand for reduce_max) |
//! | reduce_sum | elements of the operand |
//! | matmul | `batch·M·K·N` (result elements × contracted size) |
//! | broadcast, transpose, slice, pad, concat | elements of the result (one copy each) |
//! | reshape | 0 (a view) |
//! | param, const, compare | 0 (no derivative flows) |
//!
//! **Diagonal stages.** A stage made only of elementwise ops and reshapes has
//! a structurally diagonal Jacobian (its flat index is preserved), so one
//! direction of ones preaccumulates it: [`Factor::diagonal`]. Adjacent
//! diagonal stages are merged into one (their product is diagonal too).

use crate::bracketing::Factor;
use adjoint_ir::{Error, Graph, NodeId, Op, Result};
use petgraph::algo::dominators::simple_fast;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{HashMap, HashSet};

/// One stage `F_i` of a chain: the map from cut point `input` to cut point
/// `output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// The cut point the stage reads (`c_{i-1}`).
    pub input: NodeId,
    /// The cut point the stage produces (`c_i`).
    pub output: NodeId,
    /// The stage's differentiable nodes, in topological order, without
    /// `input` and with `output` last.
    pub nodes: Vec<NodeId>,
    /// `|E_i|`: FMAs per direction (see the module docs).
    pub cost: u64,
    /// Whether the stage's Jacobian is structurally diagonal.
    pub diagonal: bool,
}

/// The chain of stages from a parameter to an output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The differentiated value (`c_0`).
    pub param: NodeId,
    /// The differentiated output (`c_q`).
    pub output: NodeId,
    /// The stages, `F_1` (applied first) first. Empty when the output is
    /// the parameter itself.
    pub stages: Vec<Stage>,
}

impl Chain {
    /// The cut points `c_0, …, c_q`.
    pub fn cut_points(&self) -> Vec<NodeId> {
        let mut v = vec![self.param];
        v.extend(self.stages.iter().map(|s| s.output));
        v
    }

    /// The factors for [`crate::bracketing::solve`]: stage `i` maps
    /// `numel(c_{i-1})` values to `numel(c_i)` values.
    pub fn factors(&self, g: &Graph) -> Vec<Factor> {
        self.stages
            .iter()
            .map(|s| Factor {
                m: g.ty(s.output).numel() as u64,
                n: g.ty(s.input).numel() as u64,
                cost: s.cost,
                diagonal: s.diagonal,
            })
            .collect()
    }

    /// Merges stages until there are at most `max` of them, dropping the
    /// widest inner cut points first (narrow cut points are where a
    /// bracketing saves work; wide ones rarely matter). Keeps the O(q³)
    /// solver fast on very long chains.
    pub fn coarsen(&mut self, g: &Graph, max: usize) {
        let max = max.max(1);
        if self.stages.len() <= max {
            return;
        }
        // Inner cut point i sits between stage i and stage i + 1.
        let mut inner: Vec<(usize, usize)> = (0..self.stages.len() - 1)
            .map(|i| (g.ty(self.stages[i].output).numel(), i))
            .collect();
        inner.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let drop: HashSet<usize> = inner
            .iter()
            .take(self.stages.len() - max)
            .map(|&(_, i)| i)
            .collect();
        let mut out: Vec<Stage> = Vec::with_capacity(max);
        let mut merging = false;
        for (i, s) in std::mem::take(&mut self.stages).into_iter().enumerate() {
            match out.last_mut() {
                Some(prev) if merging => {
                    prev.output = s.output;
                    prev.nodes.extend(s.nodes);
                    prev.cost = prev.cost.saturating_add(s.cost);
                    prev.diagonal &= s.diagonal;
                }
                _ => out.push(s),
            }
            merging = drop.contains(&i);
        }
        self.stages = out;
    }

    /// `Σ |E_i|`: the cost of one direction through the whole chain.
    pub fn total_cost(&self) -> u64 {
        self.stages.iter().map(|s| s.cost).sum()
    }
}

fn differentiable(g: &Graph, n: NodeId) -> bool {
    g.ty(n).dtype.is_float()
}

/// The values on a path from `x` to `y` through float values only
/// (including both ends), or the empty set when there is no such path.
pub fn differentiable_between(g: &Graph, x: NodeId, y: NodeId) -> HashSet<NodeId> {
    if !differentiable(g, x) || !differentiable(g, y) {
        return HashSet::new();
    }
    let mut down: HashSet<NodeId> = HashSet::new();
    let mut stack = vec![x];
    while let Some(n) = stack.pop() {
        if down.insert(n) {
            for u in g.users(n) {
                if differentiable(g, u) && !down.contains(&u) {
                    stack.push(u);
                }
            }
        }
    }
    if !down.contains(&y) {
        return HashSet::new();
    }
    let mut both: HashSet<NodeId> = HashSet::new();
    let mut stack = vec![y];
    while let Some(n) = stack.pop() {
        if down.contains(&n) && both.insert(n) {
            for o in g.operands(n) {
                if down.contains(&o) && !both.contains(&o) {
                    stack.push(o);
                }
            }
        }
    }
    both
}

/// The FMA count of one direction through node `n`, given which of its
/// operands carry a derivative (see the module docs).
pub fn node_cost(g: &Graph, n: NodeId, live: &[bool]) -> u64 {
    let ops = g.operands(n);
    let out = g.ty(n).numel() as u64;
    let count = live.iter().filter(|&&l| l).count() as u64;
    match &g[n].op {
        Op::Param { .. }
        | Op::Const(_)
        | Op::Compare(_)
        | Op::Iota { .. }
        | Op::Logical(_)
        | Op::Project { .. } => 0,
        Op::Scan { .. } | Op::While { .. } | Op::Cond { .. } => {
            // A loop is an opaque stage: its bodies' nodes as elementwise
            // work per trip (the loops issue refines this).
            let trips = match &g[n].op {
                Op::Scan { length, .. } => *length as u64,
                Op::While { max_trips, .. } => max_trips.unwrap_or(1) as u64,
                _ => 1,
            };
            let body: u64 = g[n].op.bodies().iter().map(|b| b.len() as u64).sum();
            trips
                .saturating_mul(body)
                .saturating_mul(out)
                .saturating_mul(count)
        }
        Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast { .. } => out * count,
        Op::Broadcast { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. } => out * count.min(1),
        Op::Reshape { .. } => 0,
        Op::ReduceSum { .. } | Op::ReduceMax { .. } => {
            if count > 0 {
                g.ty(ops[0]).numel() as u64
            } else {
                0
            }
        }
        Op::MatMul => {
            // result elements × contracted size, per live operand.
            let a = &g.ty(ops[0]).shape;
            let kdim = a.dims().last().copied().unwrap_or(1) as u64;
            out * kdim * count
        }
        Op::Call(c) => {
            // Calls are inlined before the Jacobian pass decomposes; count
            // the body's nodes as elementwise work if one is left.
            (c.body.len() as u64) * out * count
        }
    }
}

/// Whether an op keeps a structurally diagonal Jacobian (each result
/// element depends only on the operand elements at the same flat index).
fn diagonal_op(op: &Op) -> bool {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast { .. } | Op::Reshape { .. } => true,
        Op::Param { .. }
        | Op::Const(_)
        | Op::Compare(_)
        | Op::Broadcast { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Pad { .. }
        | Op::Concat { .. }
        | Op::ReduceSum { .. }
        | Op::ReduceMax { .. }
        | Op::MatMul
        | Op::Call(_)
        | Op::Iota { .. }
        | Op::Logical(_)
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::Cond { .. }
        | Op::Project { .. } => false,
    }
}

/// Decomposes the map from `x` to `y` into a chain of stages at the
/// dominators of `y`. Returns `None` when no derivative flows from `x` to
/// `y` (the Jacobian is identically zero).
pub fn decompose(g: &Graph, x: NodeId, y: NodeId) -> Result<Option<Chain>> {
    let relevant = differentiable_between(g, x, y);
    if relevant.is_empty() {
        return Ok(None);
    }
    let order: Vec<NodeId> = g
        .topo_order()?
        .into_iter()
        .filter(|n| relevant.contains(n))
        .collect();
    let mut dg: DiGraph<NodeId, ()> = DiGraph::with_capacity(order.len(), order.len() * 2);
    let mut idx: HashMap<NodeId, NodeIndex> = HashMap::with_capacity(order.len());
    for &n in &order {
        idx.insert(n, dg.add_node(n));
    }
    for &n in &order {
        for o in g.operands(n) {
            if let Some(&oi) = idx.get(&o) {
                dg.add_edge(oi, idx[&n], ());
            }
        }
    }
    let doms = simple_fast(&dg, idx[&x]);
    let mut cuts: Vec<NodeId> = doms
        .dominators(idx[&y])
        .ok_or_else(|| {
            Error::pass(format!(
                "jacobian: internal: {} is not reachable from {}",
                g.display_name(y),
                g.display_name(x)
            ))
        })?
        .map(|i| dg[i])
        .collect();
    cuts.reverse();
    debug_assert_eq!(cuts.first(), Some(&x));
    // Topological position, to assign each node to its stage: a node lies in
    // stage i when it is after c_{i-1} and at or before c_i in the order.
    // Dominance makes that assignment agree with reachability: a node
    // reachable from c_{i-1} that reaches c_i is in stage i, and every
    // relevant node is on a path through every cut point (so on such a path
    // c_{i-1} comes before it and c_i after it). One walk along the order
    // therefore splits it into stages, in time linear in the relevant
    // nodes, however many cut points there are.
    let mut stages = Vec::with_capacity(cuts.len().saturating_sub(1));
    let mut rest = order.iter().copied().skip_while(|&n| n != x).skip(1);
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mut nodes: Vec<NodeId> = Vec::new();
        for n in rest.by_ref() {
            nodes.push(n);
            if n == b {
                break;
            }
        }
        if nodes.last() != Some(&b) {
            return Err(Error::pass(format!(
                "jacobian: internal: cut point {} is out of topological order",
                g.display_name(b)
            )));
        }
        let in_stage: HashSet<NodeId> = nodes.iter().copied().chain([a]).collect();
        let mut cost = 0u64;
        let mut diagonal = g.ty(a).numel() == g.ty(b).numel();
        for &n in &nodes {
            let live: Vec<bool> = g.operands(n).iter().map(|o| in_stage.contains(o)).collect();
            cost = cost.saturating_add(node_cost(g, n, &live));
            diagonal &= diagonal_op(&g[n].op);
        }
        stages.push(Stage {
            input: a,
            output: b,
            nodes,
            cost: cost.max(1),
            diagonal,
        });
    }
    Ok(Some(Chain {
        param: x,
        output: y,
        stages: merge_diagonal_runs(stages),
    }))
}

/// Merges each run of adjacent diagonal stages into one diagonal stage: the
/// product of diagonal Jacobians is diagonal, and one direction of ones
/// through the whole run preaccumulates it for the sum of their costs,
/// which no bracketing of the run beats (the solver prices every product
/// as dense, so it would not see that on its own).
fn merge_diagonal_runs(stages: Vec<Stage>) -> Vec<Stage> {
    let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
    for s in stages {
        match out.last_mut() {
            Some(prev) if prev.diagonal && s.diagonal => {
                prev.output = s.output;
                prev.nodes.extend(s.nodes);
                prev.cost = prev.cost.saturating_add(s.cost);
            }
            _ => out.push(s),
        }
    }
    out
}
