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
//! | param, const, compare, iota, and/or/not, project | 0 (no derivative flows, or a view of a result) |
//! | scan, while, cond | see below |
//!
//! **Loops are opaque stages.** A `scan`, `while` or `cond` node is never a
//! cut point (its value is a tuple; its projections can be): the stage that
//! holds it holds all of it. One direction through a loop costs the trip
//! count times the cost of one direction through one trip of the body,
//! counted with the same table over the body's own nodes (nested loops
//! included), where a body value carries a derivative when it depends on a
//! parameter that does: the live operands, and the carries that the body
//! makes live (a fixpoint over the body, as for symbolic zeros). The trip
//! count is `length` for `scan` and `max_trips` for a bounded `while`. An
//! unbounded `while` has no trip count before it runs; it is priced at
//! [`UNBOUNDED_WHILE_TRIPS`] trips. A `cond` costs its dearer branch (only
//! one runs, and which one is not known before it runs); its predicate and
//! a `while`'s condition carry no derivative and cost nothing.
//!
//! **Forward-only stages (rule 5).** Reverse mode cannot go through an
//! unbounded `while` through which a nonzero tangent flows (a carry that
//! depends on the parameter), at any nesting depth. A stage holding one is
//! [`Stage::forward_only`]: the solver never pulls adjoints through it and
//! preaccumulates it by tangents ([`Factor::forward_only`]).
//!
//! **Diagonal stages.** A stage made only of elementwise ops and reshapes has
//! a structurally diagonal Jacobian (its flat index is preserved), so one
//! direction of ones preaccumulates it: [`Factor::diagonal`]. Adjacent
//! diagonal stages are merged into one (their product is diagonal too).

use crate::bracketing::Factor;
use adjoint_ir::{BodyRef, Error, Graph, NodeId, Op, Result};
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
    /// Whether only forward mode goes through the stage: it holds an
    /// unbounded `while` through which a nonzero tangent flows (rule 5).
    pub forward_only: bool,
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
                forward_only: s.forward_only,
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
                    prev.forward_only |= s.forward_only;
                }
                _ => out.push(s),
            }
            merging = drop.contains(&i);
        }
        self.stages = out;
    }

    /// Whether some stage only goes forward ([`Stage::forward_only`]), so
    /// pure reverse mode cannot compute the Jacobian.
    pub fn forward_only(&self) -> bool {
        self.stages.iter().any(|s| s.forward_only)
    }

    /// `Σ |E_i|`: the cost of one direction through the whole chain.
    pub fn total_cost(&self) -> u64 {
        self.stages.iter().map(|s| s.cost).sum()
    }
}

/// Whether a value of `n` can carry a derivative: a float value, or a
/// loop or conditional with a float result.
fn differentiable(g: &Graph, n: NodeId) -> bool {
    match body_outputs_of(&g[n].op) {
        Some(b) => b.outputs().iter().any(|&o| b.ty(o).dtype.is_float()),
        None => g.ty(n).dtype.is_float(),
    }
}

/// The body whose outputs are the results of a multi-result op (for
/// `while`, the carries; for `cond`, the `then` branch's results).
fn body_outputs_of(op: &Op) -> Option<&BodyRef> {
    match op {
        Op::Scan { body, .. } | Op::While { body, .. } => Some(body),
        Op::Cond { then, .. } => Some(then),
        _ => None,
    }
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

/// The trip count assumed for a `while` without `max_trips` (see the
/// module docs): the number of trips is only known when it has run, and
/// an iteration to convergence typically takes a few to a few tens.
pub const UNBOUNDED_WHILE_TRIPS: u64 = 10;

/// Loops nested deeper than this inside one another are costed without
/// looking into their bodies (the trip count times the body's node count
/// per element of the loop's first result), so the walk's recursion stays
/// shallow.
const MAX_COST_DEPTH: usize = 64;

/// The cost of one direction through a node or a body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// FMAs per direction.
    pub fma: u64,
    /// Whether reverse mode cannot go through (rule 5).
    pub forward_only: bool,
}

impl Cost {
    fn then(self, other: Cost) -> Cost {
        Cost {
            fma: self.fma.saturating_add(other.fma),
            forward_only: self.forward_only || other.forward_only,
        }
    }
}

/// Memoised body costs, by body address and which parameters are live
/// (a body shared by many loops is walked once per activity pattern).
type BodyMemo = HashMap<(*const Graph, Vec<bool>), (Cost, Vec<bool>)>;

/// The FMA count of one direction through node `n`, given which of its
/// operands carry a derivative (see the module docs).
pub fn node_cost(g: &Graph, n: NodeId, live: &[bool]) -> u64 {
    cost_of(g, n, live, &mut BodyMemo::new(), 0).fma
}

/// [`node_cost`] and whether reverse mode can go through `n` (see the
/// module docs).
pub fn node_cost_full(g: &Graph, n: NodeId, live: &[bool]) -> Cost {
    cost_of(g, n, live, &mut BodyMemo::new(), 0)
}

fn cost_of(g: &Graph, n: NodeId, live: &[bool], memo: &mut BodyMemo, depth: usize) -> Cost {
    let ops = g.operands(n);
    let out = g.ty(n).numel() as u64;
    let count = live.iter().filter(|&&l| l).count() as u64;
    let fma = match &g[n].op {
        Op::Param { .. }
        | Op::Const(_)
        | Op::Compare(_)
        | Op::Iota { .. }
        | Op::Logical(_)
        | Op::Project { .. } => 0,
        Op::Scan { .. } | Op::While { .. } | Op::Revolve { .. } | Op::Cond { .. } => {
            return loop_cost(g, n, live, memo, depth);
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
    };
    Cost {
        fma,
        forward_only: false,
    }
}

/// The cost of one direction through the loop or conditional `n` (see the
/// module docs).
fn loop_cost(g: &Graph, n: NodeId, live: &[bool], memo: &mut BodyMemo, depth: usize) -> Cost {
    if !live.iter().any(|&l| l) {
        return Cost::default();
    }
    let op = &g[n].op;
    if depth >= MAX_COST_DEPTH {
        let trips = match op {
            Op::Scan { length, .. } => *length as u64,
            Op::While { max_trips, .. } => max_trips.map_or(UNBOUNDED_WHILE_TRIPS, |t| t as u64),
            _ => 1,
        };
        let nodes: u64 = op.bodies().iter().map(|b| b.len() as u64).sum();
        return Cost {
            fma: trips
                .saturating_mul(nodes)
                .saturating_mul(g.ty(n).numel() as u64),
            forward_only: false,
        };
    }
    match op {
        Op::Scan {
            body,
            carry,
            length,
            ..
        } => {
            let params = fixpoint(body, *carry, live, memo, depth);
            let (c, _) = body_cost(body, &params, memo, depth);
            Cost {
                fma: c.fma.saturating_mul(*length as u64),
                forward_only: c.forward_only,
            }
        }
        Op::While {
            body,
            carry,
            max_trips,
            ..
        } => {
            let params = fixpoint(body, *carry, live, memo, depth);
            let (c, _) = body_cost(body, &params, memo, depth);
            // A nonzero tangent flows through when a carry is live (the
            // condition and the invariants alone carry no derivative out).
            let carries_live = params.iter().take(*carry).any(|&l| l);
            let trips = max_trips.map_or(UNBOUNDED_WHILE_TRIPS, |t| t as u64);
            Cost {
                fma: c.fma.saturating_mul(trips),
                forward_only: c.forward_only || (max_trips.is_none() && carries_live),
            }
        }
        Op::Cond { then, els } => {
            let params = &live[1..];
            let (t, _) = body_cost(then, params, memo, depth);
            let (e, _) = body_cost(els, params, memo, depth);
            Cost {
                fma: t.fma.max(e.fma),
                forward_only: t.forward_only || e.forward_only,
            }
        }
        _ => Cost::default(),
    }
}

/// The live parameters of a loop body whose first `carry` parameters are
/// carried round (output `j` feeds parameter `j`), starting from the live
/// operands `live` (in parameter order): a carry becomes live when the
/// body makes its new value depend on a live parameter.
fn fixpoint(
    body: &Graph,
    carry: usize,
    live: &[bool],
    memo: &mut BodyMemo,
    depth: usize,
) -> Vec<bool> {
    let mut params = live.to_vec();
    params.resize(body.params().len(), false);
    loop {
        let (_, outs) = body_cost(body, &params, memo, depth);
        let mut changed = false;
        for j in 0..carry.min(outs.len()) {
            if outs[j] && !params[j] {
                params[j] = true;
                changed = true;
            }
        }
        if !changed {
            return params;
        }
    }
}

/// The cost of one direction through `body` when its parameters
/// `live_params` carry a derivative, and which of its outputs then do.
fn body_cost(
    body: &Graph,
    live_params: &[bool],
    memo: &mut BodyMemo,
    depth: usize,
) -> (Cost, Vec<bool>) {
    let key = (body as *const Graph, live_params.to_vec());
    if let Some(hit) = memo.get(&key) {
        return hit.clone();
    }
    let mut live: HashSet<NodeId> = HashSet::new();
    for (&p, &l) in body.params().iter().zip(live_params) {
        if l && differentiable(body, p) {
            live.insert(p);
        }
    }
    let mut total = Cost::default();
    // A body that fails to sort is not a verified graph; it costs nothing
    // here and the transforms report it.
    for n in body.topo_order().unwrap_or_default() {
        if live.contains(&n) || matches!(body[n].op, Op::Param { .. }) {
            continue;
        }
        let ops_live: Vec<bool> = body.operands(n).iter().map(|o| live.contains(o)).collect();
        if !ops_live.iter().any(|&l| l) || !differentiable(body, n) {
            continue;
        }
        live.insert(n);
        total = total.then(cost_of(body, n, &ops_live, memo, depth + 1));
    }
    let outs: Vec<bool> = body.outputs().iter().map(|o| live.contains(o)).collect();
    memo.insert(key, (total, outs.clone()));
    (total, outs)
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
        | Op::Revolve { .. }
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
    // A loop's value is a tuple, never a cut point: its stage runs on to
    // the next cut point (one of its projections, or later).
    cuts.retain(|&c| !g[c].op.is_multi_result());
    // Topological position, to assign each node to its stage: a node lies in
    // stage i when it is after c_{i-1} and at or before c_i in the order.
    // Dominance makes that assignment agree with reachability: a node
    // reachable from c_{i-1} that reaches c_i is in stage i, and every
    // relevant node is on a path through every cut point (so on such a path
    // c_{i-1} comes before it and c_i after it). One walk along the order
    // therefore splits it into stages, in time linear in the relevant
    // nodes, however many cut points there are.
    let mut stages = Vec::with_capacity(cuts.len().saturating_sub(1));
    let mut memo = BodyMemo::new();
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
        let mut cost = Cost::default();
        let mut diagonal = g.ty(a).numel() == g.ty(b).numel();
        for &n in &nodes {
            let live: Vec<bool> = g.operands(n).iter().map(|o| in_stage.contains(o)).collect();
            cost = cost.then(cost_of(g, n, &live, &mut memo, 0));
            diagonal &= diagonal_op(&g[n].op);
        }
        stages.push(Stage {
            input: a,
            output: b,
            nodes,
            cost: cost.fma.max(1),
            diagonal,
            forward_only: cost.forward_only,
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
                prev.forward_only |= s.forward_only;
            }
            _ => out.push(s),
        }
    }
    out
}
