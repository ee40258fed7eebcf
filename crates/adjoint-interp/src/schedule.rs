//! The evaluation schedule of a graph, computed once per graph (the root
//! and every custom-op body and loop or conditional function it reaches)
//! before anything is evaluated: the nodes the outputs need, in
//! topological order; each one's operands and use count (to free a value
//! after its last use); and, from the types alone, the peak working memory
//! and the nesting depth of calls and bodies, which [`crate::eval_with`]
//! checks against [`crate::EvalOptions`] up front.
//!
//! Functions are visited with an explicit stack, callees before callers,
//! so a chain of thousands of nested custom ops or loops needs no
//! recursion. A function that serves several loops is scheduled once.

use crate::memory::{scratch_bytes, type_bytes};
use adjoint_ir::{Error, Graph, NodeId, Op, Result, TensorType};
use std::collections::HashMap;

/// Where a graph's working memory peaks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peak {
    /// The node being evaluated at the peak.
    pub node: NodeId,
    /// Bytes held by earlier values at that moment.
    pub held: u64,
    /// Bytes the node itself needs: its result and scratch, or for a call
    /// the body's own peak.
    pub needs: u64,
}

/// How to evaluate one graph, and what it costs.
pub(crate) struct Schedule {
    /// The nodes the outputs depend on, in topological order.
    pub order: Vec<NodeId>,
    /// Each needed node's operands, by node index.
    pub operands: Vec<Vec<NodeId>>,
    /// How many needed nodes use each value (before evaluation starts).
    pub uses: Vec<usize>,
    /// Whether each node is an output (outputs are kept to the end).
    pub is_output: Vec<bool>,
    /// The peak working memory of one evaluation, in bytes (saturating).
    pub peak: u64,
    /// Where the peak is reached (`None` if the graph needs no memory).
    pub peak_at: Option<Peak>,
    /// Bytes of the copies made when the outputs are handed to the caller
    /// of [`crate::eval`] (a parameter, a constant or a repeated output is
    /// copied).
    pub output_copies: u64,
    /// Bytes still held when the last node is done (the outputs).
    pub end_live: u64,
    /// The deepest nesting of calls and bodies below this graph (0 without
    /// calls or loops).
    pub depth: usize,
    /// The call, loop or conditional node that leads to that depth.
    pub deepest: Option<NodeId>,
    /// The bytes held by earlier values when each node starts, by node
    /// index.
    pub before: Vec<u64>,
    /// The bytes a loop node holds outside its body frames while they run
    /// (its carries, its stacked outputs and the current slices of its
    /// scanned inputs), by node index; 0 for other nodes.
    pub extra: Vec<u64>,
}

/// The schedules of a graph and of every body it reaches, by address.
pub(crate) type Schedules = HashMap<*const Graph, Schedule>;

/// The key of `g` in [`Schedules`].
pub(crate) fn key(g: &Graph) -> *const Graph {
    g as *const Graph
}

/// The schedule of `g`, which [`build`] has computed.
pub(crate) fn of<'s>(all: &'s Schedules, g: &Graph) -> Result<&'s Schedule> {
    all.get(&key(g))
        .ok_or_else(|| Error::eval(format!("@{}: no evaluation schedule (internal)", g.name())))
}

/// The schedules of `root` and of every custom-op body its needed nodes
/// call, directly or not.
pub(crate) fn build(root: &Graph) -> Result<Schedules> {
    let mut done = Schedules::new();
    let mut pending: Schedules = HashMap::new();
    // (graph, whether its callees have been pushed already)
    let mut stack: Vec<(&Graph, bool)> = vec![(root, false)];
    while let Some((g, expanded)) = stack.pop() {
        let k = key(g);
        if expanded {
            let s = pending
                .remove(&k)
                .ok_or_else(|| Error::eval(format!("@{}: scheduled twice (internal)", g.name())))?;
            let s = cost(g, s, &done)?;
            done.insert(k, s);
            continue;
        }
        if done.contains_key(&k) || pending.contains_key(&k) {
            continue;
        }
        let s = structure(g)?;
        stack.push((g, true));
        for &id in &s.order {
            for f in callees(&g[id].op) {
                if !done.contains_key(&key(f)) {
                    stack.push((f, false));
                }
            }
        }
        pending.insert(k, s);
    }
    Ok(done)
}

/// The functions node `op` runs: a custom op's body, or the bodies of a
/// loop or conditional.
pub(crate) fn callees(op: &Op) -> Vec<&Graph> {
    match op {
        Op::Call(c) => vec![&c.body],
        op => op.bodies().into_iter().map(|b| b.graph()).collect(),
    }
}

/// The needed nodes, their operands and use counts; costs still zero.
fn structure(g: &Graph) -> Result<Schedule> {
    let order = g.topo_order()?;
    let bound = order.iter().map(|id| id.index() + 1).max().unwrap_or(0);
    let mut is_output = vec![false; bound];
    for &o in g.outputs() {
        if !g.contains(o) {
            return Err(Error::eval(format!(
                "@{}: output {o} does not exist",
                g.name()
            )));
        }
        is_output[o.index()] = true;
    }
    let mut needed = is_output.clone();
    let mut operands: Vec<Vec<NodeId>> = vec![Vec::new(); bound];
    let mut uses = vec![0usize; bound];
    for &id in order.iter().rev() {
        if !needed[id.index()] {
            continue;
        }
        let ops = g.operands(id);
        for &o in &ops {
            needed[o.index()] = true;
            uses[o.index()] += 1;
        }
        operands[id.index()] = ops;
    }
    let order = order.into_iter().filter(|id| needed[id.index()]).collect();
    Ok(Schedule {
        order,
        operands,
        uses,
        is_output,
        peak: 0,
        peak_at: None,
        output_copies: 0,
        end_live: 0,
        depth: 0,
        deepest: None,
        before: vec![0; bound],
        extra: vec![0; bound],
    })
}

/// Fills in the costs of `s`, the structure of `g`, from the types and the
/// callees' schedules in `done`: values are held from the node that
/// computes them to their last use (outputs to the end), as evaluation
/// does.
fn cost(g: &Graph, mut s: Schedule, done: &Schedules) -> Result<Schedule> {
    let mut uses = s.uses.clone();
    let mut held = vec![0u64; s.is_output.len()];
    let mut live = 0u64;
    for &id in &s.order {
        let node = &g[id];
        let callees = callees(&node.op);
        if !callees.is_empty() {
            let mut depth = 0;
            for f in &callees {
                depth = depth.max(of(done, f)?.depth);
            }
            if depth + 1 > s.depth {
                s.depth = depth + 1;
                s.deepest = Some(id);
            }
        }
        let (needs, keeps) = match &node.op {
            // Parameters and constants are borrowed, never copied.
            Op::Param { .. } | Op::Const(_) => (0, 0),
            Op::Call(c) => (of(done, &c.body)?.peak, type_bytes(&node.ty)),
            // A projection shares its result with the tuple: the bytes move
            // from the one to the other, and the total held is unchanged.
            Op::Project { .. } => {
                let r = type_bytes(&node.ty);
                let moved = s.operands[id.index()].first().map_or(0, |&p| {
                    let m = r.min(held[p.index()]);
                    held[p.index()] -= m;
                    m
                });
                live = live.saturating_sub(moved);
                (0, moved)
            }
            op if op.is_multi_result() => {
                let (extra, needs, keeps) = loop_cost(g, id, done)?;
                s.extra[id.index()] = extra;
                (needs, keeps)
            }
            op => {
                let tys: Vec<&TensorType> = s.operands[id.index()]
                    .iter()
                    .filter_map(|&o| g.get(o).map(|n| &n.ty))
                    .collect();
                let r = type_bytes(&node.ty);
                (r.saturating_add(scratch_bytes(op, &tys, &node.ty)), r)
            }
        };
        s.before[id.index()] = live;
        let total = live.saturating_add(needs);
        if total > s.peak {
            s.peak = total;
            s.peak_at = Some(Peak {
                node: id,
                held: live,
                needs,
            });
        }
        live = live.saturating_add(keeps);
        held[id.index()] = keeps;
        for &o in &s.operands[id.index()] {
            uses[o.index()] -= 1;
            if uses[o.index()] == 0 && !s.is_output[o.index()] {
                live = live.saturating_sub(held[o.index()]);
            }
        }
    }
    s.end_live = live;
    // Handing the outputs over copies a borrowed value or a repeated one.
    let outs = g.outputs();
    for (i, &o) in outs.iter().enumerate() {
        let borrowed = matches!(g[o].op, Op::Param { .. } | Op::Const(_));
        if borrowed || outs[i + 1..].contains(&o) {
            s.output_copies = s.output_copies.saturating_add(type_bytes(&g[o].ty));
        }
    }
    Ok(s)
}

/// The sum of the bytes of `tys`.
fn sum_bytes<'t>(tys: impl IntoIterator<Item = &'t TensorType>) -> u64 {
    tys.into_iter()
        .fold(0u64, |acc, t| acc.saturating_add(type_bytes(t)))
}

/// The working memory of the loop or conditional `id` of `g`: what it holds
/// outside its body frames while they run, what it needs at its peak, and
/// what its results keep.
///
/// - `scan`: its results (the carries and the stacked outputs, allocated
///   before the first iteration) and the slices of its scanned inputs,
///   plus one body peak.
/// - `while`: its carries plus the larger of the predicate's and the
///   body's peaks (the trip count is unknown, but one trip's memory is
///   freed before the next).
/// - `revolve`: its results, the slices of its scanned inputs and
///   `min(snapshots, length)` states (the snapshots above `s_0`, which is
///   an operand, and the current state), plus the larger of its step's
///   and its body's peaks (one runs at a time).
/// - `cond`: its results only. The branch is chosen at run time, and its
///   peak is checked then, before it runs: the untaken branch costs
///   nothing.
pub(crate) fn loop_cost(g: &Graph, id: NodeId, done: &Schedules) -> Result<(u64, u64, u64)> {
    let results = g.result_types(id)?;
    let r = sum_bytes(&results);
    match &g[id].op {
        Op::Scan {
            body, carry, xs, ..
        } => {
            let params = body.param_types();
            let slices = sum_bytes(params.iter().skip(*carry).take(*xs));
            let extra = r.saturating_add(slices);
            Ok((extra, extra.saturating_add(of(done, body)?.peak), r))
        }
        Op::Revolve {
            body,
            step,
            state,
            xs,
            length,
            snapshots,
            ..
        } => {
            let params = step.param_types();
            let one = sum_bytes(params.iter().take(*state));
            let slices = sum_bytes(params.iter().skip(*state).take(*xs));
            let states = one.saturating_mul((*snapshots).min(*length) as u64);
            let extra = r.saturating_add(slices).saturating_add(states);
            let inner = of(done, body)?.peak.max(of(done, step)?.peak);
            Ok((extra, extra.saturating_add(inner), r))
        }
        Op::While { cond, body, .. } => {
            let inner = of(done, body)?.peak.max(of(done, cond)?.peak);
            Ok((r, r.saturating_add(inner), r))
        }
        _ => Ok((0, r, r)),
    }
}
